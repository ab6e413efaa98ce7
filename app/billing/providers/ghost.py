"""Ghost: `X-Ghost-Signature: sha256=<hex>, t=<ms>`, the hex being the HMAC-SHA256 of the
body followed by `t` under the webhook's secret. A retry resends the same body and header,
so the body's hash is the event id and `t` (the moment Ghost sent it) orders events.

`member.added` and `member.edited`: a `paid` or `comped` member grants the plan that the
first of their `tiers` buys; a `free` one lapses. `member.deleted` cancels. Customers are
`ghost:<member id>`.
"""

import hashlib
import hmac
from datetime import UTC, datetime

from pydantic import BaseModel

from app.billing.providers import body_id, parse
from app.billing.schemas import EventType, ProviderEvent
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
    current: _Member | dict[str, object] = {}
    previous: _Member | dict[str, object] = {}


class _Envelope(BaseModel):
    event: str | None = None
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
    envelope = parse(_Envelope, body)
    change = envelope.member
    if change is None or not (envelope.event or "").startswith("member."):
        return None
    sent = datetime.fromtimestamp(sent_at, UTC)
    if envelope.event == "member.deleted":
        gone = change.previous
        if not isinstance(gone, _Member):
            return None
        return ProviderEvent(body_id(body), EventType.CANCELLED, sent, f"ghost:{gone.id}")
    member = change.current
    if not isinstance(member, _Member):
        return None
    paying = member.status in _PAYING
    return ProviderEvent(
        body_id(body),
        EventType.RENEWED if paying else EventType.LAPSED,
        sent,
        f"ghost:{member.id}",
        email=member.email,
        prices=tuple(tier.id for tier in member.tiers),
    )
