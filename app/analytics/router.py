"""Listening reports: per show, per episode, per subscriber; JSON, or CSV with ?format=csv."""

import csv
import io
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any, ClassVar, Protocol, TypeVar

from fastapi import APIRouter, Depends, Query, Response

from app.accounts.deps import PrincipalDep, require
from app.accounts.service import Permission
from app.analytics import service
from app.analytics.schemas import (
    CsvRow,
    EpisodeReport,
    Interval,
    Releases,
    ReportFormat,
    ShowReport,
    SubscriberReport,
)
from app.core.db.session import SessionDep
from app.core.deps import ClockDep
from app.episodes.deps import EpisodeDep
from app.shows.deps import ShowDep
from app.subscribers.deps import SubscriberDep

router = APIRouter(
    prefix="/admin/analytics", tags=["analytics"], dependencies=[require(Permission.STATS)]
)

CSV_TYPE = "text/csv; charset=utf-8"
CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}


def date_range(
    clock: ClockDep,
    start: Annotated[
        date | None,
        Query(alias="from", description="First day (UTC); default: 29 days before `to`."),
    ] = None,
    end: Annotated[
        date | None, Query(alias="to", description="Last day (UTC); default: today.")
    ] = None,
) -> service.DateRange:
    return service.DateRange.of(start, end, clock().date())


DateRangeDep = Annotated[service.DateRange, Depends(date_range)]
FormatQuery = Annotated[
    ReportFormat, Query(description="`csv`: the same report as CSV, one row per line of it.")
]
IntervalQuery = Annotated[
    Interval, Query(description="Counts per day, or per Monday-to-Sunday week.")
]


class CsvReport(Protocol):
    CSV_HEADER: ClassVar[tuple[str, ...]]

    def csv_rows(self) -> Iterator[CsvRow]: ...


AnyReport = TypeVar("AnyReport", bound=CsvReport)


def answer(report: AnyReport, format: ReportFormat, name: str) -> AnyReport | Response:
    """The report as JSON, or (?format=csv) as a CSV file `<name>.csv`, a row per line of it."""
    if format is not ReportFormat.CSV:
        return report
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(report.CSV_HEADER)
    writer.writerows(report.csv_rows())
    return Response(
        out.getvalue(),
        media_type=CSV_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get("/shows/{slug}", response_model=ShowReport, responses=CSV_ANSWER)
def show_report(
    show: ShowDep,
    span: DateRangeDep,
    session: SessionDep,
    interval: IntervalQuery = Interval.DAY,
    format: FormatQuery = ReportFormat.JSON,
) -> ShowReport | Response:
    """A show's downloads, listeners and subscribers, per day or week, and by app and device."""
    report = service.show_report(session, show, span, interval)
    return answer(report, format, f"{show.slug}-{span.start}-{span.end}")


# Same shape as show_report: the same query about another subject (its own path, dependency
# and service); the answer's CSV form is shared (answer()).
@router.get("/episodes/{episode_id}", response_model=EpisodeReport, responses=CSV_ANSWER)
def episode_report(
    episode: EpisodeDep,
    span: DateRangeDep,
    session: SessionDep,
    interval: IntervalQuery = Interval.DAY,
    format: FormatQuery = ReportFormat.JSON,
) -> EpisodeReport | Response:
    """An episode's downloads, listeners and subscribers, per day or week, and by app and device."""
    report = service.episode_report(session, episode, span, interval)
    return answer(report, format, f"episode-{episode.id}-{span.start}-{span.end}")


@router.get("/shows/{slug}/releases", response_model=Releases, responses=CSV_ANSWER)
def show_releases(
    show: ShowDep, session: SessionDep, clock: ClockDep, format: FormatQuery = ReportFormat.JSON
) -> Releases | Response:
    """Each released episode's downloads 1, 7, 30 and 90 days after its release (the numbers
    podcasters compare); a day that has not come yet is null."""
    releases = service.show_releases(session, show, clock())
    return answer(releases, format, f"{show.slug}-releases")


# Same shape as show_releases: the same numbers about another subject (one episode).
@router.get("/episodes/{episode_id}/release", response_model=Releases, responses=CSV_ANSWER)
def episode_release(
    episode: EpisodeDep,
    session: SessionDep,
    clock: ClockDep,
    format: FormatQuery = ReportFormat.JSON,
) -> Releases | Response:
    """The episode's downloads 1, 7, 30 and 90 days after its release (no row before it is
    out); a day that has not come yet is null."""
    releases = service.episode_release(session, episode, clock())
    return answer(releases, format, f"episode-{episode.id}-release")


@router.get("/subscribers/{subscriber_id}", response_model=SubscriberReport, responses=CSV_ANSWER)
def subscriber_report(
    subscriber: SubscriberDep,
    span: DateRangeDep,
    session: SessionDep,
    principal: PrincipalDep,
    format: FormatQuery = ReportFormat.JSON,
) -> SubscriberReport | Response:
    """A subscriber's feed URLs (current and rotated), last polls, downloads, apps and networks;
    and their sharing alerts, for the roles that handle them (the subscribers permission)."""
    with_alerts = principal.can(Permission.SUBSCRIBERS)
    report = service.subscriber_report(session, subscriber, span, with_alerts=with_alerts)
    return answer(report, format, f"subscriber-{subscriber.id}-{span.start}-{span.end}")
