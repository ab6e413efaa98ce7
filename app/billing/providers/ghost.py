"""Ghost: `X-Ghost-Signature: sha256=<hex>, t=<ms>`, the hex being the HMAC-SHA256 of the
body followed by `t` under the webhook's secret. A retry resends the same body and header,
so the body's hash is the event id and `t` (the moment Ghost sent it) orders events.

A Ghost webhook is registered for one event, and its body names none (nor does a header):
`{"member": {"current": {...}, "previous": {...}}}`. As Ghost's own consumers do, the two
halves tell the events apart: `member.deleted` has an empty `current` (the member is in
`previous`); `member.added` (empty `previous`) and `member.edited` (`previous` holds the
changed fields' old values) carry the member as it now is in `current`. A `paid` or
`comped` member grants the plan that the first of their `tiers` buys; a `free` one lapses;
a deleted one cancels. Customers are `ghost:<member id>`.
"""

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from app.billing.providers import body_id, parse
from app.billing.schemas import BillingEventType, ProviderEvent
from app.core.tokens import SignatureRejected

SIGNATURE_HEADER = "X-Ghost-Signature"
_PAYING = {"paid", "comped"}


class _Tier(BaseModel):
    id: str


class _Member(BaseModel):
    id: str
    email: str | None = None
    status: str | None = None
    tiers: list[_Tier] = []


class _Change(BaseModel):
    current: dict[str, Any] = {}
    previous: dict[str, Any] = {}


class _Envelope(BaseModel):
    member: _Change | None = None


def verify(secret: str, header: str | None, body: bytes, *, now: float, tolerance: int) -> float:
    """Check the signature; returns when Ghost sent the event (Unix time)."""
    if not header:
        raise SignatureRejected(f"Missing the {SIGNATURE_HEADER} header.")
    parts = dict(part.strip().partition("=")[::2] for part in header.split(","))
    given, sent = parts.get("sha256", ""), parts.get("t", "")
    if not given or not sent.isdigit():
        raise SignatureRejected(f"{SIGNATURE_HEADER} must look like sha256=<hex>, t=<ms>.")
    expected = hmac.new(secret.encode(), body + sent.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given.lower()):
        raise SignatureRejected("The signature does not match the payload and secret.")
    sent_at = int(sent) / 1000
    if abs(now - sent_at) > tolerance:
        raise SignatureRejected(
            f"The signature's timestamp is more than {tolerance} s from now: a replay, or a "
            "clock that needs setting."
        )
    return sent_at


def translate(body: bytes, sent_at: float) -> ProviderEvent | None:
    change = parse(_Envelope, body).member
    if change is None:
        return None  # a post, page, tag or site webhook
    sent = datetime.fromtimestamp(sent_at, UTC)
    if change.current:  # added or edited
        member = parse(_Member, change.current)
        return ProviderEvent(
            body_id(body),
            BillingEventType.RENEWED if member.status in _PAYING else BillingEventType.LAPSED,
            sent,
            f"ghost:{member.id}",
            email=member.email,
            prices=tuple(tier.id for tier in member.tiers),
        )
    if change.previous:  # deleted
        gone = parse(_Member, change.previous)
        return ProviderEvent(body_id(body), BillingEventType.CANCELLED, sent, f"ghost:{gone.id}")
    return None
