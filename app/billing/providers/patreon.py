"""Patreon (API v2 webhooks): `X-Patreon-Signature` is the hex HMAC-MD5 of the body under
the webhook's secret, and `X-Patreon-Event` names the trigger. The body is a JSON:API
`member` resource, its whole current state; it carries no event id or time, so an
event's id is its body's hash and its time is its arrival.

For the `members:*` and `members:pledge:*` triggers, by `patron_status`: `active_patron`
grants the plan that the first of `currently_entitled_tiers` buys; `declined_patron` (a
charge failed) starts the grace period; `former_patron` or none lapses, as does
`members:pledge:delete` and `members:delete`. The email is there when the creator's client
has the `campaigns.members[email]` scope. Customers are `patreon:<member id>`.
"""

from datetime import datetime

from pydantic import BaseModel

from app.billing.providers import body_id, check_hex_hmac, parse
from app.billing.schemas import BillingEventType, ProviderEvent

SIGNATURE_HEADER = "X-Patreon-Signature"
EVENT_HEADER = "X-Patreon-Event"
_ENDING_TRIGGERS = {"members:delete", "members:pledge:delete"}


class _Attributes(BaseModel):
    email: str | None = None
    patron_status: str | None = None


class _Ref(BaseModel):
    id: str
    type: str


class _Tiers(BaseModel):
    data: list[_Ref] = []


class _Relationships(BaseModel):
    currently_entitled_tiers: _Tiers = _Tiers()


class _Member(BaseModel):
    id: str
    type: str
    attributes: _Attributes = _Attributes()
    relationships: _Relationships = _Relationships()


class _Document(BaseModel):
    data: _Member


def verify(secret: str, signature: str | None, body: bytes) -> None:
    check_hex_hmac(secret, body, signature, header=SIGNATURE_HEADER, digest="md5")


def translate(trigger: str | None, body: bytes, received: datetime) -> ProviderEvent | None:
    if trigger is None or not trigger.startswith("members:"):
        return None  # posts:publish and the like
    member = parse(_Document, body).data
    if member.type != "member":
        return None
    status = member.attributes.patron_status
    tiers = tuple(tier.id for tier in member.relationships.currently_entitled_tiers.data)
    if trigger in _ENDING_TRIGGERS:
        change = BillingEventType.CANCELLED
    elif status == "active_patron":
        change = BillingEventType.RENEWED
    elif status == "declined_patron":
        change = BillingEventType.PAST_DUE
    else:
        change = BillingEventType.LAPSED
    return ProviderEvent(
        body_id(body),
        change,
        received,
        f"patreon:{member.id}",
        email=member.attributes.email,
        prices=tiers,
    )
