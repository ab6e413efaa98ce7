from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.shows.schemas import Slug
from app.subscribers.schemas import Email, ExternalId

LATEST_EVENT_TIME = 4_102_444_800  # 2100-01-01: a larger `created` is a broken event
PlanId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,255}$")]


class EventType(StrEnum):
    CREATED = "subscription.created"
    RENEWED = "subscription.renewed"
    PLAN_CHANGED = "subscription.plan_changed"
    LAPSED = "subscription.lapsed"
    CANCELLED = "subscription.cancelled"
    REFUNDED = "subscription.refunded"


class EventData(BaseModel):
    customer_id: ExternalId
    email: Email | None = Field(default=None, description="Needed to create a subscriber.")
    plan: PlanId | None = Field(default=None, description="Needed when access starts/changes.")


class BillingEvent(BaseModel):
    id: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    type: EventType
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


class PlanIn(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    shows: list[Slug] = Field(description="The shows the plan entitles to; a bundle is several.")


class PlanOut(BaseModel):
    id: str
    name: str
    shows: list[str]
