"""Access logs name a feed by the first characters of its token, never the whole secret."""

import logging
import re

from app.tokens import redact

# The whole path segment after /p/ (feed tokens) or /my/ (signed links to subscriber pages,
# credentials for a week), whatever its shape: a token with `%20`, `%00` or a letter
# appended still carries the whole secret.
_SECRET_IN_PATH = re.compile(r"(?:(?<=/p/)|(?<=/my/))[^/?#\s\"]+")


def redact_tokens(text: str) -> str:
    return _SECRET_IN_PATH.sub(lambda m: redact(m.group()), text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_tokens(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        record.msg = redact_tokens(str(record.msg))
        return True


def install_token_redaction() -> None:
    # The loggers that write request paths. (A logger's filter sees only that logger's own
    # records, not its children's: Podpass's own modules log no paths.)
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
