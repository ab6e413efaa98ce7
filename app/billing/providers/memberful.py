"""Memberful: `X-Memberful-Webhook-Signature` is the hex HMAC-SHA256 of the body under the
webhook's secret. Payloads carry no event id and no event time, so an event's id is its
body's hash and its time is its arrival (Memberful's own advice is to treat pings as
triggers; each carries the subscription's whole current state).

- `subscription.created` / `.updated` / `.renewed` / `.activated`: an active subscription
  grants the plan its `subscription_plan.id` buys; an inactive one lapses;
- `subscription.deactivated` lapses; `subscription.deleted` cancels;
- `member_updated` with a changed email updates it.

Customers are `memberful:<member id>` (Memberful's ids are small integers).
"""

from datetime import datetime

from pydantic import BaseModel

from app.billing.providers import body_id, check_hex_hmac, parse
from app.billing.schemas import BillingEventType, ProviderEvent

SIGNATURE_HEADER = "X-Memberful-Webhook-Signature"
_GRANTING = {
    "subscription.created",
    "subscription.updated",
    "subscription.renewed",
    "subscription.activated",
}


class _Member(BaseModel):
    id: int
    email: str | None = None


class _Plan(BaseModel):
    id: int


class _Subscription(BaseModel):
    active: bool
    member: _Member
    subscription_plan: _Plan


class _Envelope(BaseModel):
    event: str
    subscription: _Subscription | None = None
    member: _Member | None = None
    changed: dict[str, object] = {}


def verify(secret: str, signature: str | None, body: bytes) -> None:
    check_hex_hmac(secret, body, signature, header=SIGNATURE_HEADER, digest="sha256")


def customer_id(member_id: int) -> str:
    return f"memberful:{member_id}"


def translate(body: bytes, received: datetime) -> ProviderEvent | None:
    envelope = parse(_Envelope, body)
    event_id = body_id(body)
    subscription = envelope.subscription
    if envelope.event.startswith("subscription.") and subscription is not None:
        member = subscription.member
        if envelope.event in _GRANTING and subscription.active:
            change = BillingEventType.RENEWED
        elif envelope.event == "subscription.deleted":
            change = BillingEventType.CANCELLED
        elif envelope.event in _GRANTING or envelope.event == "subscription.deactivated":
            change = BillingEventType.LAPSED
        else:
            return None
        return ProviderEvent(
            event_id,
            change,
            received,
            customer_id(member.id),
            email=member.email,
            prices=(str(subscription.subscription_plan.id),),
        )
    updated = envelope.member
    if (
        envelope.event == "member_updated"
        and updated
        and updated.email
        and "email" in envelope.changed
    ):
        return ProviderEvent(
            event_id,
            BillingEventType.CUSTOMER_UPDATED,
            received,
            customer_id(updated.id),
            updated.email,
        )
    return None
