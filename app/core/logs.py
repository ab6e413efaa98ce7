"""Access logs name a feed by the first characters of its token, and an API key by its
public key_id, never the whole secret."""

import logging
import re

from app.core.tokens import redact

# The whole path segment after /p/ (feed tokens) or /my/ (signed links to subscriber pages,
# credentials for a week), whatever its shape: a token with `%20`, `%00` or a letter
# appended still carries the whole secret.
_SECRET_IN_PATH = re.compile(r"(?:(?<=/p/)|(?<=/my/))[^/?#\s\"]+")
# A staff API key (app/accounts/service.py): `pp_`, its public key_id, then the secret.
_API_KEY = re.compile(r"\b(pp_[A-Za-z0-9_-]{8})[A-Za-z0-9_-]+")


def redact_tokens(text: str) -> str:
    text = _SECRET_IN_PATH.sub(lambda m: redact(m.group()), text)
    return _API_KEY.sub(r"\1…", text)


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
