"""Feed tokens, signed links, signed values and signed webhook bodies: the only module that
imports itsdangerous.

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

from app.core.config import Settings
from app.core.errors import AppError

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

    @classmethod
    def from_settings(cls, settings: Settings) -> "PageLinks":
        """One per process: the routes mint page links with it and the outbox emails them."""
        return cls(settings.secret_key, max_age_seconds=settings.page_link_days * 86400)

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


# Webhooks, both ways: Podpass's own billing format comes in with this header, and the
# outbox's deliveries go out with it. `t=<unix time>,v1=<hex HMAC-SHA256 of "t." + body>`.
SIGNATURE_HEADER = "Podpass-Signature"


class SignatureRejected(AppError, status_code=400, error="bad_signature"): ...


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for a payload: `t=<unix time>,v1=<hex HMAC-SHA256>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str | None, body: bytes, *, now: float, tolerance: int) -> None:
    if not header:
        raise SignatureRejected(f"Missing the {SIGNATURE_HEADER} header.")
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in parts if key.strip() == "t"]
    signatures = [value.strip() for key, value in parts if key.strip() == "v1"]
    if len(timestamps) != 1 or not timestamps[0].strip().isdigit() or not signatures:
        raise SignatureRejected(f"{SIGNATURE_HEADER} must look like t=<unix time>,v1=<hex>.")
    timestamp = int(timestamps[0])
    expected = sign(secret, timestamp, body).rsplit("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, signature) for signature in signatures):
        raise SignatureRejected("The signature does not match the payload and secret.")
    if abs(now - timestamp) > tolerance:
        raise SignatureRejected(
            f"The signature's timestamp is more than {tolerance} s from now: a replay, or a "
            "clock that needs setting."
        )
