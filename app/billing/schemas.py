from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from app.core.fields import Email
from app.shows.schemas import Slug
from app.subscribers.schemas import ExternalId

LATEST_EVENT_TIME = 4_102_444_800  # 2100-01-01: a larger `created` is a broken event
PlanId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,255}$")]


class BillingEventType(StrEnum):
    CREATED = "subscription.created"
    RENEWED = "subscription.renewed"
    PLAN_CHANGED = "subscription.plan_changed"
    LAPSED = "subscription.lapsed"
    CANCELLED = "subscription.cancelled"
    REFUNDED = "subscription.refunded"
    # A payment failed: access continues for PODPASS_PAST_DUE_GRACE_DAYS, then lapses
    # unless a later event (a payment, an end) comes first.
    PAST_DUE = "subscription.past_due"
    # The customer's email, as billing knows it now: updates their subscriber's address,
    # or links a subscriber added by hand with that address.
    CUSTOMER_UPDATED = "customer.updated"


class Provider(StrEnum):
    STRIPE = "stripe"
    MEMBERFUL = "memberful"
    PATREON = "patreon"
    GHOST = "ghost"


ExternalPriceId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)
]


class EventData(BaseModel):
    customer_id: ExternalId
    email: Email | None = Field(default=None, description="Needed to create a subscriber.")
    plan: PlanId | None = Field(default=None, description="Needed when access starts/changes.")


class BillingEvent(BaseModel):
    id: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    type: BillingEventType
    created: int = Field(
        ge=0,
        le=LATEST_EVENT_TIME,
        description="When it happened (Unix time, 1970 to 2100); later events win.",
    )
    data: EventData


class EventOutcome(BaseModel):
    status: str
    subscriber_id: int | None = None
    page_url: str | None = None


# Same shape as DeliveryOut in outbox/schemas.py (described fields, then timestamps): an
# event received here, a delivery sent there.
class BillingEventOut(BaseModel):
    id: str = Field(description="`<provider>:<its event id>`, or the id in Podpass's format.")
    source: str = Field(description="The provider, or `podpass` (its own format).")
    type: str
    occurred_at: datetime
    received_at: datetime
    outcome: str = Field(description="applied, stale, superseded or ignored")
    why: str
    duplicates: int = Field(description="Deliveries of it since, which changed nothing.")
    kept: bool = Field(description="Ignored because no plan listed its price: reapply it.")
    prices: list[str]
    plan_id: str | None = Field(description="A kept event's: the plan that lists it now.")
    subscriber_id: int | None = Field(
        description="Whom it concerned (none if no subscriber was found for it, or if it "
        "was recorded before Podpass stored this)."
    )


class AllEpisodes(BaseModel):
    rule: Literal["all"] = "all"


class LatestEpisodes(BaseModel):
    rule: Literal["latest"]
    episodes: int = Field(ge=1, le=100_000, description="How many of the newest episodes.")


class SinceJoining(BaseModel):
    rule: Literal["since_joining"]
    days_before: int = Field(
        ge=0,
        le=36_600,
        description="Episodes published from this many days before the subscriber gained "
        "the show (UTC days), and everything after.",
    )


BackCatalogueRule = Annotated[
    AllEpisodes | LatestEpisodes | SinceJoining, Field(discriminator="rule")
]


class PlanIn(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    shows: list[Slug] = Field(description="The shows the plan entitles to; a bundle is several.")
    external_ids: dict[Provider, list[ExternalPriceId]] | None = Field(
        default=None,
        description="The billing providers' ids that buy this plan: Stripe price ids, "
        "Memberful plan ids, Patreon and Ghost tier ids. Each id buys one plan. "
        "Omitted: the plan keeps the ids it has.",
        examples=[{"stripe": ["price_1Q0monthly", "price_1Q0yearly"], "patreon": ["9876543"]}],
    )
    back_catalogue: BackCatalogueRule | None = Field(
        default=None,
        description="Which episodes the plan's subscribers see: all (a new plan's default), "
        "the latest N, or those from D days before they joined. Omitted: kept as it is.",
    )


class PlanOut(BaseModel):
    id: str
    name: str
    shows: list[str]
    external_ids: dict[str, list[str]] = Field(default_factory=dict)
    back_catalogue: BackCatalogueRule = Field(default_factory=AllEpisodes)


@dataclass(frozen=True)
class ProviderEvent:
    """A provider's webhook in Podpass's terms: what happened to which customer, and when.
    `prices` are the provider's price or tier ids (mapped to a plan through the plans'
    `external_ids`); `id` is unique per provider event, so a redelivery is a duplicate."""

    id: str
    type: BillingEventType
    occurred: datetime
    customer_id: str
    email: str | None = None
    prices: tuple[str, ...] = ()
