"""What the console's pages show, put together from the domains' own services (the same ones
the JSON API calls): no counting or rules of its own."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.analytics import service as analytics
from app.analytics.schemas import Group, Interval, SubscriberReport
from app.models import AlertStatus, SharingAlert, Show, Subscriber
from app.sharing import service as sharing
from app.sharing.schemas import Evidence
from app.shows import service as shows

DASHBOARD_DAYS = 90
TOP = 5
ALERTS_LISTED = 100


@dataclass(frozen=True)
class DayCounts:
    day: date
    downloads: list[int]  # one per show, in the dashboard's show order


@dataclass(frozen=True)
class TopEpisode:
    episode_id: int
    title: str
    show: str
    downloads: int


@dataclass(frozen=True)
class Dashboard:
    start: date
    end: date
    shows: list[Show]
    totals: list[int]  # each show's downloads over the days
    days: list[DayCounts]
    chart: str  # inline SVG
    subscribers_this_week: int
    subscribers_last_week: int
    top_episodes: list[TopEpisode]
    top_apps: list[Group]
    open_alerts: list["AlertView"]


@dataclass(frozen=True)
class AlertView:
    alert: SharingAlert
    evidence: Evidence
    subscriber: Subscriber
    show: Show | None  # None: the show was deleted since


def dashboard(session: Session, today: date) -> Dashboard:
    span = analytics.DateRange(today - timedelta(days=DASHBOARD_DAYS - 1), today)
    listed = list(shows.list_all(session))
    reports = [analytics.show_report(session, show, span, Interval.DAY) for show in listed]
    # Imported here: pygal (2 MB) is loaded by the first chart, not by every worker.
    from app.console import charts

    days, series = charts.from_first_data(
        [period.start for period in reports[0].periods] if reports else [],
        [
            charts.Series(show.title, [p.downloads for p in report.periods])
            for show, report in zip(listed, reports, strict=True)
        ],
    )
    per_day = [DayCounts(day, [one.values[i] for one in series]) for i, day in enumerate(days)]
    chart = charts.per_period(days, series)
    # Monday to Sunday weeks: the one before this one, and this one so far.
    this_monday = today - timedelta(days=today.weekday())
    weeks = analytics.all_shows_report(
        session, analytics.DateRange(this_monday - timedelta(days=7), today), Interval.WEEK
    ).periods
    titles = {show.id: show.title for show in listed}
    top = analytics.top_episodes(session, span, TOP)
    return Dashboard(
        start=days[0] if days else span.start,
        end=span.end,
        shows=listed,
        totals=[report.totals.downloads for report in reports],
        days=per_day,
        chart=chart,
        subscribers_last_week=weeks[0].unique_subscribers,
        subscribers_this_week=weeks[-1].unique_subscribers,
        top_episodes=[
            TopEpisode(row.episode_id, row.title, titles.get(row.show_id, ""), row.downloads)
            for row in top
        ],
        top_apps=analytics.all_shows_report(session, span, Interval.WEEK).apps[:TOP],
        open_alerts=alerts(session, [AlertStatus.OPEN]),
    )


def alerts(
    session: Session, statuses: Sequence[AlertStatus], subscriber_id: int | None = None
) -> list[AlertView]:
    found = sharing.list_some(
        session, statuses=statuses, subscriber_id=subscriber_id, limit=ALERTS_LISTED, offset=0
    )
    by_id = {show.id: show for show in shows.list_all(session)}
    # One query for all the alerts' subscribers, not one each.
    wanted = {alert.subscriber_id for alert in found}
    subscriber_of = {
        subscriber.id: subscriber
        for subscriber in session.scalars(select(Subscriber).where(Subscriber.id.in_(wanted)))
    }
    return [
        AlertView(
            alert=alert,
            evidence=Evidence.model_validate(alert.evidence),
            subscriber=subscriber_of[alert.subscriber_id],
            show=by_id.get(alert.show_id),
        )
        for alert in found
    ]


def activity(session: Session, subscriber: Subscriber, today: date) -> SubscriberReport:
    """The subscriber's last 30 days, as the analytics API reports them (the page lists
    their alerts itself)."""
    return analytics.subscriber_report(
        session, subscriber, analytics.DateRange.of(None, None, today), with_alerts=False
    )
