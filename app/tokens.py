"""Feed tokens: the only module that imports itsdangerous.

A token is `token_id` (12 URL-safe characters, random, stored in the database) followed by
an HMAC-SHA256 signature of it under the server secret (43 characters). The signature is the
secret part: 256 bits that the database does not hold, checked in constant time. Rotating a
feed replaces `token_id`, so the old URL stops matching any row.
"""

import hashlib
import hmac
import re
import secrets

from itsdangerous import Signer

TOKEN_ID_LENGTH = 12
SIGNATURE_LENGTH = 43
TOKEN_LENGTH = TOKEN_ID_LENGTH + SIGNATURE_LENGTH
_TOKEN_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_LENGTH}}}")
TOKEN_PATTERN = _TOKEN_SHAPE.pattern


def new_token_id() -> str:
    return secrets.token_urlsafe(9)  # 72 random bits: a unique, unguessable row key


class FeedTokens:
    def __init__(self, secret_key: str) -> None:
        self._signer = Signer(
            secret_key,
            salt="podpass.feed-token",
            digest_method=hashlib.sha256,
            key_derivation="hmac",
        )

    def token_for(self, token_id: str) -> str:
        return token_id + self._signer.get_signature(token_id).decode()

    def token_id_of(self, token: str) -> str | None:
        """The token's id if the token is well formed and its signature is ours."""
        if not _TOKEN_SHAPE.fullmatch(token):
            return None
        token_id = token[:TOKEN_ID_LENGTH]
        # Compare the whole canonical token: base64 padding bits must not make a second
        # spelling of the same signature valid.
        if not hmac.compare_digest(self.token_for(token_id), token):
            return None
        return token_id


def redact(token: str) -> str:
    """What a log line may show of a token."""
    return token[:6] + "…"
