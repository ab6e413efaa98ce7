"""One adapter per billing provider: each checks its provider's signature and translates its
documented webhook payloads into `ProviderEvent`s, which `billing.service.apply_provider`
applies with the same claim-first idempotency and event-time ordering as Podpass's own
format. An event type an adapter does not use translates to None (answered 200, ignored)."""

import hashlib
import hmac
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.core.errors import InvalidInput
from app.core.tokens import SignatureRejected

M = TypeVar("M", bound=BaseModel)


def body_id(body: bytes) -> str:
    """An event id for providers whose payloads carry none: a redelivery sends the same
    bytes, so it is a duplicate; a new state is a new body."""
    return hashlib.sha256(body).hexdigest()


def check_hex_hmac(
    secret: str, body: bytes, given: str | None, *, header: str, digest: str
) -> None:
    if not given:
        raise SignatureRejected(f"Missing the {header} header.")
    expected = hmac.new(secret.encode(), body, digest).hexdigest()
    if not hmac.compare_digest(expected, given.strip().lower()):
        raise SignatureRejected("The signature does not match the payload and secret.")


def parse(model: type[M], body: bytes | dict[str, Any]) -> M:
    try:
        if isinstance(body, bytes):
            return model.model_validate_json(body)
        return model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"Malformed event: {problems}") from None
