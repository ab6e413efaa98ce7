"""Feed tokens, signed links and signed values: the only module that imports itsdangerous.

A token is `token_id` (12 URL-safe characters, random, stored in the database) followed by
an HMAC-SHA256 signature of it under the server secret (43 characters). The signature is the
secret part: 256 bits that the database does not hold, checked in constant time. Rotating a
feed replaces `token_id`, so the old URL stops matching any row.
"""

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from itsdangerous import (
    BadData,
    SignatureExpired,
    Signer,
    TimestampSigner,
    URLSafeSerializer,
    URLSafeTimedSerializer,
)

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


class LinkExpired(Exception):
    pass


class LinkInvalid(Exception):
    pass


def _clock_signer(clock: Callable[[], float]) -> type[TimestampSigner]:
    """A TimestampSigner that reads the injected clock, so tests move time instead of
    sleeping."""

    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

    return ClockSigner


class PageLinks:
    """Signed, expiring links to a subscriber's own page, for the publisher to email."""

    def __init__(
        self, secret_key: str, *, max_age_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_age = int(max_age_seconds)
        self._clock = clock
        self._serializer = URLSafeTimedSerializer(
            secret_key, salt="podpass.subscriber-page", signer=_clock_signer(clock)
        )

    def make(self, subscriber_id: int) -> tuple[str, float]:
        """The signed value, and when it expires (Unix time)."""
        return self._serializer.dumps(subscriber_id), self._clock() + self.max_age

    def subscriber_of(self, signed: str) -> int:
        try:
            subscriber_id = self._serializer.loads(signed, max_age=self.max_age)
        except SignatureExpired as exc:
            raise LinkExpired from exc
        except BadData as exc:
            raise LinkInvalid from exc
        if not isinstance(subscriber_id, int):
            raise LinkInvalid
        return subscriber_id


class FormTokens:
    """Tokens for public forms that have no session (a request for one's links): the page
    that shows the form signs the time, and the post must come back within `max_age`. A
    page on another site cannot read one out of ours, so it cannot post the form for a
    visitor; a script that fetches our page first can, which the rate limits are for."""

    def __init__(
        self, secret_key: str, *, max_age_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_age = int(max_age_seconds)
        self._signer = _clock_signer(clock)(
            secret_key, salt="podpass.public-form", digest_method=hashlib.sha256
        )

    def make(self) -> str:
        return self._signer.sign("form").decode()

    def valid(self, token: str) -> bool:
        try:
            return self._signer.unsign(token, max_age=self.max_age) == b"form"
        except BadData:
            return False


class UnsubscribeLinks:
    """One-click unsubscribe (RFC 8058) from new-episode emails: a signed subscriber id that
    does not expire, since it must work from any old email, and can do nothing else."""

    def __init__(self, secret_key: str) -> None:
        self._signer = Signer(secret_key, salt="podpass.unsubscribe", digest_method=hashlib.sha256)

    def make(self, subscriber_id: int) -> str:
        return self._signer.sign(str(subscriber_id)).decode()

    def subscriber_of(self, signed: str) -> int:
        try:
            value = self._signer.unsign(signed).decode()
        except BadData as exc:
            raise LinkInvalid from exc
        if not value.isdigit():
            raise LinkInvalid
        return int(value)


def webhook_secret(secret_key: str, secret_id: str) -> str:
    """An endpoint's signing secret, from its row's `secret_id` and the server key."""
    signer = Signer(secret_key, salt="podpass.webhook-secret", digest_method=hashlib.sha256)
    return "whsec_" + signer.get_signature(secret_id).decode()


class SignedValues:
    """JSON values signed (not encrypted) for one purpose, like a console session's cookie.
    Untimed: the caller checks a value's age against its injected clock."""

    def __init__(self, secret_key: str, purpose: str) -> None:
        self._serializer = URLSafeSerializer(
            secret_key,
            salt=purpose,
            signer_kwargs={"digest_method": hashlib.sha256, "key_derivation": "hmac"},
        )

    def dumps(self, value: Any) -> str:
        return self._serializer.dumps(value)

    def loads(self, signed: str) -> Any:
        """The value, or None when the signature is not ours for this purpose."""
        try:
            return self._serializer.loads(signed)
        except BadData:
            return None
