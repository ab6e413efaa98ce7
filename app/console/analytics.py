"""The console's analytics pages: a show's and an episode's downloads over a chosen range (per
day or week), listeners, subscribers, apps, device categories, top episodes, and each
episode's downloads 1, 7, 30 and 90 days after its release.

The numbers are the analytics API's own reports (the same service calls), and "Download CSV"
is that API's CSV of the same range: what the page shows, as a spreadsheet opens it."""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response

from app.analytics import service as analytics
from app.analytics.schemas import EpisodeReport, Interval, Releases, ReportFormat, ShowReport
from app.console.deps import STATS
from app.console.pages import render
from app.core.db.session import SessionDep
from app.core.deps import ClockDep
from app.core.errors import InvalidInput
from app.episodes.deps import EpisodeDep
from app.models import Episode, Show
from app.shows.deps import ShowDep

router = APIRouter(prefix="/console", include_in_schema=False)

PRESET_DAYS = (7, 30, 90)


@dataclass(frozen=True)
class Picked:
    """The range as the page's form holds it (as typed, so a mistake stays to be fixed), and
    the days it names, or the problem with it."""

    start: str
    end: str
    interval: Interval
    today: date
    span: analytics.DateRange | None
    problem: str | None

    def query(self, **changes: str) -> str:
        """The page's query string for this range, with `changes` (from, to, interval)."""
        values = {"from": self.start, "to": self.end, "interval": self.interval.value}
        return urlencode(values | changes)


def _day(text: str, field: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{field}: “{text}” is not a date. Pick one, or write it like 2026-11-30."
        ) from None


def picked_range(
    clock: ClockDep,
    start: Annotated[str, Query(alias="from")] = "",
    end: Annotated[str, Query(alias="to")] = "",
    interval: str = "",
) -> Picked:
    """The range asked for; by default the last 30 days (as the API's)."""
    today = clock().date()
    per = Interval.WEEK if interval == Interval.WEEK.value else Interval.DAY
    try:
        span = analytics.DateRange.of(_day(start, "From"), _day(end, "To"), today)
    except InvalidInput as refused:
        return Picked(start, end, per, today, None, str(refused.detail))
    return Picked(span.start.isoformat(), span.end.isoformat(), per, today, span, None)


PickedDep = Annotated[Picked, Depends(picked_range)]


@dataclass(frozen=True)
class Preset:
    label: str
    query: str
    current: bool


def _presets(picked: Picked) -> list[Preset]:
    today = picked.today
    presets = []
    for days in PRESET_DAYS:
        start = (today - timedelta(days=days - 1)).isoformat()
        current = (picked.start, picked.end) == (start, today.isoformat())
        query = picked.query(**{"from": start, "to": today.isoformat()})
        presets.append(Preset(f"Last {days} days", query, current))
    return presets


def _chart(report: ShowReport | EpisodeReport) -> str:
    # Imported here: pygal (2 MB) is loaded by the first chart, not by every worker.
    from app.console import charts

    downloads = charts.Series("Downloads", [period.downloads for period in report.periods])
    return charts.per_period([period.start for period in report.periods], [downloads])


def _page(
    request: Request,
    show: Show,
    episode: Episode | None,
    picked: Picked,
    report: ShowReport | EpisodeReport | None,
    releases: Releases,
) -> Response:
    """Both analytics pages: a report over `picked`, or the range's problem beside its form.
    The CSV links are the analytics API's own (a console session may read it)."""
    if episode is None:
        api, page = f"/admin/analytics/shows/{show.slug}", f"/console/shows/{show.slug}"
        releases_api = f"{api}/releases"
    else:
        api, page = f"/admin/analytics/episodes/{episode.id}", f"/console/episodes/{episode.id}"
        releases_api = f"{api}/release"
    csv = f"{api}?{picked.query(format=ReportFormat.CSV.value)}" if report else None
    return render(
        request,
        "analytics.html",
        {
            "show": show,
            "episode": episode,
            "title": episode.title if episode else show.title,
            "page_path": f"{page}/analytics",
            "picked": picked,
            "presets": _presets(picked),
            "report": report,
            "chart": _chart(report) if report else "",
            "csv_url": csv,
            "releases": releases,
            "releases_csv_url": f"{releases_api}?format={ReportFormat.CSV.value}",
        },
    )


@router.get("/shows/{slug}/analytics", dependencies=STATS)
def show_analytics(
    request: Request, show: ShowDep, picked: PickedDep, session: SessionDep, clock: ClockDep
) -> Response:
    span = picked.span
    report = analytics.show_report(session, show, span, picked.interval) if span else None
    releases = analytics.show_releases(session, show, clock())
    return _page(request, show, None, picked, report, releases)


# Same shape as show_analytics: the same page about another subject (its own path, dependency
# and reports).
@router.get("/episodes/{episode_id}/analytics", dependencies=STATS)
def episode_analytics(
    request: Request, episode: EpisodeDep, picked: PickedDep, session: SessionDep, clock: ClockDep
) -> Response:
    span = picked.span
    show = session.get_one(Show, episode.show_id)
    report = analytics.episode_report(session, episode, span, picked.interval) if span else None
    releases = analytics.episode_release(session, episode, clock())
    return _page(request, show, episode, picked, report, releases)
