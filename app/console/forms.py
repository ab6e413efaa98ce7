"""What the console's publishing pages share: a row's values as its form shows them, times as
the publisher reads and types them, a form's problems in a person's words, and what the page
says after a file was saved."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Form
from pydantic import BaseModel, ValidationError

from app.core.deps import ClockDep, SettingsDep
from app.core.errors import AppError, InvalidInput
from app.core.fields import said
from app.models import Episode, EpisodeStatus

# What the page says after its script saved a file through the admin API (a fixed list:
# the query string never puts text of its own on the page).
SAVED_FILES = {
    "audio": "New audio saved: it passed the upload's checks. The GUID is the same and the "
    "enclosure URL is new, so apps that downloaded the old file fetch this one.",
    "artwork": "New artwork saved: it passed the size check (JPEG or PNG, square, "
    "1400 to 3000 px).",
    "chapters": "Chapters saved.",
    "transcript": "Transcript saved.",
    "welcome-audio": "Welcome recording saved: it passed the same checks as an episode.",
}


def form_values(row: object, form: type[BaseModel]) -> dict[str, object]:
    """The row's values of the form's fields, as the form's boxes show them: an empty box for
    None, a number's digits (an empty box for 0, which the number fields read as none). A
    checkbox keeps its bool."""

    def shown(value: object) -> object:
        if isinstance(value, bool | str):
            return value
        return str(value) if value else ""

    return {name: shown(getattr(row, name)) for name in form.model_fields}


@dataclass(frozen=True)
class Times:
    """Times as the publisher reads and types them: in PODPASS_TIMEZONE."""

    zone: ZoneInfo
    now: datetime

    def field(self, moment: datetime | None) -> str:
        """The value of a datetime-local input."""
        return moment.astimezone(self.zone).strftime("%Y-%m-%dT%H:%M") if moment else ""

    def read(self, value: str) -> datetime:
        """A datetime-local input's value, in the publisher's time zone."""
        try:
            naive = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{value!r} is not a date and time.") from None
        moment = naive.replace(tzinfo=self.zone)  # a time that happens twice: the first
        if moment.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != naive:
            raise InvalidInput(
                f"{value} does not exist in {self.zone.key}: the clocks go forward then. "
                "Choose a time after the change."
            )
        return moment

    def state(self, episode: Episode) -> str:
        if episode.status != EpisodeStatus.PUBLISHED:
            return "draft"
        assert episode.published_at is not None  # publishing sets it
        return "scheduled" if episode.published_at > self.now else "published"


def _times(settings: SettingsDep, clock: ClockDep) -> Times:
    return Times(settings.timezone, clock())


TimesDep = Annotated[Times, Depends(_times)]


@dataclass(frozen=True)
class NewPassword:
    """A new password as a form posts it: typed twice, as there is nothing to see it by."""

    typed: str
    again: str

    def checked(self) -> str:
        if self.typed != self.again:
            raise InvalidInput("new password: the two differ; nothing was changed.")
        return self.typed


def _new_password(
    new: Annotated[str, Form(max_length=1024)], again: Annotated[str, Form(max_length=1024)]
) -> NewPassword:
    return NewPassword(new, again)


NewPasswordDep = Annotated[NewPassword, Depends(_new_password)]


def named(values: type[StrEnum]) -> dict[str, str]:
    """A filter's choices (choice.html) from an enum: each value, and its words."""
    return {value: value.replace("_", " ").capitalize() for value in values}


def duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02}:{rest % 60:02}" if hours else f"{rest // 60}:{rest % 60:02}"


def problems(exc: ValidationError | AppError, words: Mapping[str, str] | None = None) -> list[str]:
    """One line per field, in a person's words (`words`: a field's own, for any problem of
    it). A field that may be left out but not null fails both halves of its union: the first
    error is the one that explains."""
    if isinstance(exc, AppError):
        return [exc.message]  # without a hint meant for the API's callers
    found: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]).replace("_", " ") if error["loc"] else "form"
        found.setdefault(field, (words or {}).get(field) or said(error))
    return [f"{field}: {message}" for field, message in found.items()]
