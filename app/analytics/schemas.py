"""Analytics reports, as JSON and as the rows of their CSV form."""

from collections.abc import Iterator
from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, Field

from app.sharing.schemas import AlertOut


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"  # Monday to Sunday, cut to the report's range


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


CsvRow = tuple[str | int, ...]


class Counts(BaseModel):
    downloads: int = Field(description="Downloads by the IAB v2.2 rules.")
    unique_listeners: int = Field(
        description="Distinct IP + user agent per UTC day, summed over the days: an estimate "
        "(the IP hash's salt changes daily, so one listener on two days counts twice)."
    )
    unique_subscribers: int = Field(description="Distinct subscribers over the whole span: exact.")

    def cells(self) -> CsvRow:
        return self.downloads, self.unique_listeners, self.unique_subscribers


class Period(Counts):
    start: date
    end: date


class Group(Counts):
    name: str | None = Field(description="None: not recognised (or not reported).")


class Report(BaseModel):
    start: date
    end: date
    interval: Interval
    totals: Counts
    periods: list[Period]
    apps: list[Group]
    device_categories: list[Group]

    CSV_HEADER: ClassVar[tuple[str, ...]] = (
        "section",
        "name",
        "start",
        "end",
        "downloads",
        "unique_listeners",
        "unique_subscribers",
    )

    def csv_rows(self) -> Iterator[CsvRow]:
        span = (self.start.isoformat(), self.end.isoformat())
        yield ("total", "", *span, *self.totals.cells())
        for period in self.periods:
            dates = (period.start.isoformat(), period.end.isoformat())
            yield (self.interval.value, "", *dates, *period.cells())
        for section, groups in (("app", self.apps), ("device_category", self.device_categories)):
            for group in groups:
                yield (section, group.name or "", *span, *group.cells())


class EpisodeCounts(Counts):
    episode_id: int
    title: str


class ShowReport(Report):
    show: str
    top_episodes: list[EpisodeCounts] = Field(
        description="Its most downloaded episodes over the span (at most 10), most first."
    )

    def csv_rows(self) -> Iterator[CsvRow]:
        yield from super().csv_rows()
        span = (self.start.isoformat(), self.end.isoformat())
        for episode in self.top_episodes:
            yield ("episode", episode.title, *span, *episode.cells())


class EpisodeReport(Report):
    show: str
    episode_id: int
    title: str


# The days after its release at which an episode's downloads are compared.
RELEASE_DAYS = (1, 7, 30, 90)


class Milestone(BaseModel):
    days: int
    until: datetime = Field(description="Its release time plus `days` days.")
    downloads: int | None = Field(
        description="Downloads from its release until `until`; None: that time has not come."
    )


class EpisodeRelease(BaseModel):
    episode_id: int
    title: str
    published_at: datetime
    after: list[Milestone] = Field(description="One per day count: 1, 7, 30 and 90.")


class Releases(BaseModel):
    show: str
    as_of: datetime
    episodes: list[EpisodeRelease] = Field(description="Its released episodes, newest first.")

    CSV_HEADER: ClassVar[tuple[str, ...]] = (
        "episode_id",
        "title",
        "published_at",
        *(f"after_{days}_day{'s' if days > 1 else ''}" for days in RELEASE_DAYS),
    )

    def csv_rows(self) -> Iterator[CsvRow]:
        for episode in self.episodes:
            counts = (_count_or_blank(milestone.downloads) for milestone in episode.after)
            yield (episode.episode_id, episode.title, _when(episode.published_at), *counts)


def _count_or_blank(count: int | None) -> str | int:
    return "" if count is None else count


class Feed(BaseModel):
    token_id: str = Field(description="The feed URL's public key (the token's first characters).")
    show: str | None = Field(description="The show's slug (None if it is gone).")
    current: bool = Field(description="False: an earlier URL, since rotated.")
    last_poll: datetime | None = Field(description="Its last poll among the kept raw events.")
    downloads: int


class Tally(BaseModel):
    name: str | None
    downloads: int


class SubscriberAlert(AlertOut):
    show: str | None = Field(description="The show's slug (None if it is gone).")


class SubscriberReport(BaseModel):
    subscriber_id: int
    start: date
    end: date
    downloads: int
    last_poll: datetime | None
    feeds: list[Feed]
    apps: list[Tally]
    prefixes: list[Tally] = Field(description="The networks (/24, /48) downloads came from.")
    alerts: list[SubscriberAlert] = Field(
        description="Sharing alerts on the subscriber's feed URLs, whatever their status and "
        "date, newest first. Always empty for roles without the subscribers permission "
        "(editor, analyst): the alerts' evidence is theirs to see."
    )

    CSV_HEADER: ClassVar[tuple[str, ...]] = (
        "section",
        "name",
        "show",
        "current",
        "last_poll",
        "downloads",
        "status",
        "opened_at",
        "closed_at",
        "reasons",
    )

    def csv_rows(self) -> Iterator[CsvRow]:
        no_alert = ("", "", "", "")
        yield ("total", "", "", "", _when(self.last_poll), self.downloads, *no_alert)
        for feed in self.feeds:
            current = "yes" if feed.current else "no"
            yield (
                "feed",
                feed.token_id,
                feed.show or "",
                current,
                _when(feed.last_poll),
                feed.downloads,
                *no_alert,
            )
        for section, tallies in (("app", self.apps), ("prefix", self.prefixes)):
            for tally in tallies:
                yield (section, tally.name or "", "", "", "", tally.downloads, *no_alert)
        for alert in self.alerts:
            yield (
                "alert",
                alert.token_id,
                alert.show or "",
                "",
                "",
                alert.evidence.downloads,  # in the detection window
                alert.status,
                _when(alert.opened_at),
                _when(alert.closed_at),
                " ".join(alert.evidence.reasons),
            )


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""
