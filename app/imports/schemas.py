from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field, HttpUrl

from app.core.fields import Email
from app.models import SubscriberStatus
from app.shows.schemas import Name, Slug
from app.subscribers.schemas import ExternalId

# The subscribers CSV: these columns, then one `old_url:<slug>` column per show whose old
# private feed URLs are known. Only `email` is required.
EMAIL, NAME, EXTERNAL_ID = "email", "name", "external_id"
PLAN, SHOWS, STATUS, JOINED = "plan", "shows", "status", "joined"
COLUMNS = (EMAIL, NAME, EXTERNAL_ID, PLAN, SHOWS, STATUS, JOINED)
OLD_URL_PREFIX = "old_url:"


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _date_in_utc(value: object) -> object:
    """A date or a date and time without an offset is read as UTC; a blank is None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return value  # pydantic says why
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _blank_is_active(value: object) -> object:
    return SubscriberStatus.ACTIVE if isinstance(value, str) and not value.strip() else value


def _slugs(value: object) -> object:
    """Shows as one cell: slugs separated by spaces, commas or semicolons."""
    if isinstance(value, str):
        return value.replace(",", " ").replace(";", " ").split()
    return value


class SubscriberLine(BaseModel):
    """One line of the subscribers CSV."""

    email: Email
    # For personal feed titles; a blank cell keeps the name a subscriber has.
    name: Annotated[Name | None, BeforeValidator(_blank_is_none)] = None
    external_id: Annotated[ExternalId | None, BeforeValidator(_blank_is_none)] = None
    plan: Annotated[str | None, BeforeValidator(_blank_is_none)] = None
    shows: Annotated[list[Slug], BeforeValidator(_slugs)] = Field(default_factory=list)
    status: Annotated[SubscriberStatus, BeforeValidator(_blank_is_active)] = SubscriberStatus.ACTIVE
    old_urls: dict[str, HttpUrl] = Field(default_factory=dict)  # show slug -> old feed URL
    # When they first subscribed, at the previous host (a date, or a date and time; UTC if
    # no offset is given): the welcome item and a plan's dated back catalogue count from it.
    joined: Annotated[AwareDatetime | None, BeforeValidator(_date_in_utc)] = None


@dataclass
class FeedImport:
    """What one `import feed` run did, each episode named by its title and GUID."""

    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # there already (same GUID, same show)
    # Could not be fetched this time (the host broke off, timed out or had trouble), after
    # retries: a rerun tries them again.
    failed: list[str] = field(default_factory=list)
    # What no rerun imports while the feed stays as it is (no enclosure or date, a file its
    # host refuses for good, audio the upload checks refuse), with why.
    left_out: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # kept, without a part that was unusable


@dataclass
class SubscriberImport:
    created: int = 0
    updated: int = 0
    old_urls: int = 0  # old URLs added by this run
