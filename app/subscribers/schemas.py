from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.fields import Email
from app.shows.schemas import Name, Slug

ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


class SubscriberCreate(BaseModel):
    email: Email
    external_id: ExternalId | None = Field(
        default=None, description="The billing system's customer id."
    )
    shows: list[Slug] = Field(
        default_factory=list, description="Slugs of the shows they are entitled to."
    )
    name: Name | None = Field(
        default=None, description="For personal feed titles; default: the email's local part."
    )
    plan: str | None = Field(
        default=None,
        description="A plan's id: they get its shows (with `shows`) and its back catalogue. "
        "None: the shows given, by hand (a comp).",
    )


class SubscriberUpdate(BaseModel):
    """Only the fields given change; `null` clears `name` or `external_id`."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = Field(default=None, description="Their new email; it cannot be null.")
    name: Name | None = Field(
        default=None, description="For personal feed titles; null: the email's local part."
    )
    external_id: ExternalId | None = Field(
        default=None, description="The billing system's customer id; null: none."
    )


class EntitlementsUpdate(BaseModel):
    shows: list[Slug] = Field(description="The complete set of shows they are entitled to.")


class PlanUpdate(BaseModel):
    plan: str | None = Field(
        description="The plan whose shows and back catalogue they get; null: none (their "
        "shows stay, given by hand)."
    )


class FeedOut(BaseModel):
    show: str
    title: str
    entitled: bool
    feed_url: str


class SubscriberFields(BaseModel):
    """A subscriber row's own fields, as the API shows them."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str | None
    external_id: str | None
    status: str
    plan_id: str | None
    past_due_since: datetime | None
    created_at: datetime
    updated_at: datetime


class SubscriberOut(SubscriberFields):
    feeds: list[FeedOut]


class PageLink(BaseModel):
    url: str
    expires_at: datetime
