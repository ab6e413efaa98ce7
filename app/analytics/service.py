"""Counting downloads by the IAB Podcast Measurement v2.2 rules, and the reports over them.

A download is a unique IP hash + user agent + episode within a fixed UTC day, made from that
day's qualifying audio requests. `rollup` rebuilds one day whole in one INSERT ... SELECT, so
running it again gives the same rows, and the raw events can be purged once it has run."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    CursorResult,
    Date,
    Float,
    Select,
    SQLColumnExpression,
    String,
    case,
    delete,
    distinct,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.analytics.schemas import (
    RELEASE_DAYS,
    Counts,
    EpisodeCounts,
    EpisodeRelease,
    EpisodeReport,
    Feed,
    Group,
    Interval,
    Milestone,
    Period,
    Releases,
    Report,
    ShowReport,
    SubscriberAlert,
    SubscriberReport,
    Tally,
)
from app.core.errors import InvalidInput
from app.models import (
    Download,
    Episode,
    EpisodeStatus,
    EventKind,
    ListenEvent,
    Show,
    Subscriber,
)
from app.sharing import service as sharing
from app.sharing.schemas import AlertOut

# A 302 is a download too: it sends the app to the file on S3.
DOWNLOAD_STATUSES = (200, 206, 302)
DEFAULT_REPORT_DAYS = 30
MAX_REPORT_DAYS = 3660  # ten years of days is still a small answer
TOP_EPISODES = 10


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _covers_a_minute() -> ColumnElement[bool]:
    """Whether an audio request's range holds a minute of audio: the bytes it asks for from
    the audio's start (`audio_offset`, after an ID3 tag) on, against the bitrate (bits per
    second; a file that states none: its audio bytes over its duration). No range is the whole
    file, an open range runs to its end, and `bytes=-N` is its last N bytes. A range that
    reaches the end of a file holding less than a minute of audio counts too. (The `bytes=0-1`
    probe apps send first is neither.)"""
    event, episode = ListenEvent, Episode
    last_byte = episode.audio_size - 1
    no_range = event.range_start.is_(None) & event.range_end.is_(None)
    suffix = event.range_start.is_(None) & event.range_end.is_not(None)
    first = case(
        (no_range, 0),
        (suffix, episode.audio_size - event.range_end),
        else_=event.range_start,
    )
    last = case(
        (event.range_end.is_(None) | suffix | (event.range_end > last_byte), last_byte),
        else_=event.range_end,
    )
    first_audio = case((first > episode.audio_offset, first), else_=episode.audio_offset)
    audio_bytes = episode.audio_size - episode.audio_offset
    bits_per_second = case(
        (episode.bitrate > 0, episode.bitrate),
        else_=audio_bytes * 8 / episode.duration_seconds,
    )
    minute_bits = bits_per_second * 60
    return or_(
        (last - first_audio + 1) * 8 >= minute_bits,
        (last == last_byte) & (audio_bytes * 8 < minute_bits),
    )


def rollup(session: Session, day: date) -> int:
    """Rebuild `day`'s downloads from its raw events; answer how many there are. Each takes
    its subscriber, feed, app and network from its first qualifying request (the earliest,
    then the lowest id)."""
    event = ListenEvent
    start = day_start(day)
    session.execute(delete(Download).where(Download.day == day))
    first = func.row_number().over(
        partition_by=(event.episode_id, event.ip_hash, event.user_agent),
        order_by=(event.at, event.id),
    )
    qualifying = (
        select(
            event.episode_id,
            Episode.show_id,
            event.ip_hash,
            event.user_agent,
            event.at,
            event.token_id,
            event.subscriber_id,
            event.ip_prefix,
            event.app,
            event.device,
            event.device_category,
            first.label("nth"),
        )
        .join(Episode, Episode.id == event.episode_id)
        .where(
            event.at >= start,
            event.at < start + timedelta(days=1),
            event.kind == EventKind.AUDIO,
            event.method == "GET",
            event.status.in_(DOWNLOAD_STATUSES),
            event.bot.is_(False),
            _covers_a_minute(),
        )
        .subquery()
    )
    columns = (
        "episode_id",
        "show_id",
        "ip_hash",
        "user_agent",
        "token_id",
        "subscriber_id",
        "ip_prefix",
        "app",
        "device",
        "device_category",
    )
    downloads = select(
        literal(day, Date),
        qualifying.c.at,
        *(qualifying.c[name] for name in columns),
    ).where(qualifying.c.nth == 1)
    session.execute(insert(Download).from_select(["day", "first_at", *columns], downloads))
    return session.scalar(select(func.count()).where(Download.day == day)) or 0


def first_kept_day(now: datetime, retention_days: int) -> date:
    """The oldest UTC day whose raw events are all still kept: events are purged by whole
    days, so every day from this one on can be rolled up again."""
    return now.astimezone(UTC).date() - timedelta(days=retention_days)


def purge(session: Session, now: datetime, retention_days: int) -> int:
    """Delete the raw events of the days before the retention window; answer how many."""
    cutoff = day_start(first_kept_day(now, retention_days))
    result = session.execute(delete(ListenEvent).where(ListenEvent.at < cutoff))
    return cast(CursorResult[Any], result).rowcount


# Reports


class WeekStart(FunctionElement[date]):
    """The Monday of a date's week."""

    type = Date()
    inherit_cache = True


@compiles(WeekStart)
def _week_start(element: WeekStart, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(date_trunc('week', {compiler.process(element.clauses, **kw)}) AS DATE)"


@compiles(WeekStart, "sqlite")
def _week_start_sqlite(element: WeekStart, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, '-6 days', 'weekday 1')"


class DaysBetween(FunctionElement[float]):
    """How many days (with their fraction) a time is after another."""

    type = Float()
    inherit_cache = True


@compiles(DaysBetween)
def _days_between(element: DaysBetween, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0)"


@compiles(DaysBetween, "sqlite")
def _days_between_sqlite(element: DaysBetween, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(julianday({later}) - julianday({earlier}))"


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date  # inclusive

    @classmethod
    def of(cls, start: date | None, end: date | None, today: date) -> "DateRange":
        """The days asked for; by default the last 30 days up to today (UTC)."""
        end = end or today
        start = start or end - timedelta(days=DEFAULT_REPORT_DAYS - 1)
        if start > end:
            raise InvalidInput(f"The range starts ({start}) after it ends ({end}).")
        if (end - start).days >= MAX_REPORT_DAYS:
            raise InvalidInput(f"A report covers at most {MAX_REPORT_DAYS} days.")
        return cls(start, end)

    def periods(self, interval: Interval) -> Iterator[tuple[date, date]]:
        """Each day, or each Monday-to-Sunday week, cut to the range."""
        current = self.start
        while True:
            monday = current - timedelta(days=current.weekday())
            if interval is Interval.DAY:
                last = current
            else:
                last = self.end if (self.end - monday).days < 7 else monday + timedelta(days=6)
            yield current, last
            if last == self.end:
                return
            current = last + timedelta(days=1)


class _Counted(NamedTuple):
    key: Any
    downloads: int
    unique_listeners: int
    unique_subscribers: int

    def counts(self) -> Counts:
        return Counts(
            downloads=self.downloads,
            unique_listeners=self.unique_listeners,
            unique_subscribers=self.unique_subscribers,
        )


def _count(
    session: Session,
    where: Sequence[ColumnElement[bool]],
    key: SQLColumnExpression[Any] | None,
) -> list[_Counted]:
    """Downloads, listeners (distinct IP hash + user agent per day) and subscribers, by key."""
    listener = Download.day.cast(String) + " " + Download.ip_hash + " " + Download.user_agent
    grouping = key if key is not None else literal(None)
    query: Select[Any, int, int, int] = select(
        grouping,
        func.count(),
        func.count(distinct(listener)),
        func.count(distinct(Download.subscriber_id)),
    ).where(*where)
    if key is not None:
        query = query.group_by(key)
    return [_Counted(*row) for row in session.execute(query)]


def _groups(counted: list[_Counted]) -> list[Group]:
    ordered = sorted(counted, key=lambda row: (-row.downloads, row.key is None, row.key or ""))
    return [
        Group(
            name=row.key,
            downloads=row.downloads,
            unique_listeners=row.unique_listeners,
            unique_subscribers=row.unique_subscribers,
        )
        for row in ordered
    ]


def _report(
    session: Session, where: ColumnElement[bool], span: DateRange, interval: Interval
) -> Report:
    within = [where, Download.day.between(span.start, span.end)]
    period_key = Download.day if interval is Interval.DAY else WeekStart(Download.day)
    by_period = {row.key: row for row in _count(session, within, period_key)}
    periods = []
    for start, end in span.periods(interval):
        # A week's key is its Monday, which may be before the range starts.
        key = start - timedelta(days=start.weekday()) if interval is Interval.WEEK else start
        counted = by_period.get(key, _Counted(key, 0, 0, 0))
        periods.append(Period(start=start, end=end, **counted.counts().model_dump()))
    (totals,) = _count(session, within, None)
    return Report(
        start=span.start,
        end=span.end,
        interval=interval,
        totals=totals.counts(),
        periods=periods,
        apps=_groups(_count(session, within, Download.app)),
        device_categories=_groups(_count(session, within, Download.device_category)),
    )


def show_report(session: Session, show: Show, span: DateRange, interval: Interval) -> ShowReport:
    report = _report(session, Download.show_id == show.id, span, interval)
    return ShowReport(
        show=show.slug, top_episodes=_top_of_show(session, show, span), **dict(report)
    )


def _top_of_show(session: Session, show: Show, span: DateRange) -> list[EpisodeCounts]:
    within = [Download.show_id == show.id, Download.day.between(span.start, span.end)]
    counted = _count(session, within, Download.episode_id)
    top = sorted(counted, key=lambda row: (-row.downloads, row.key))[:TOP_EPISODES]
    titles = dict(
        session.execute(
            select(Episode.id, Episode.title).where(Episode.id.in_([row.key for row in top]))
        ).all()
    )
    return [
        EpisodeCounts(
            episode_id=row.key, title=titles.get(row.key, ""), **row.counts().model_dump()
        )
        for row in top
    ]


def all_shows_report(session: Session, span: DateRange, interval: Interval) -> Report:
    """Every show together (the console's dashboard): subscribers count once across shows."""
    return _report(session, true(), span, interval)


class EpisodeDownloads(NamedTuple):
    episode_id: int
    show_id: int
    title: str
    downloads: int


def top_episodes(session: Session, span: DateRange, limit: int) -> list[EpisodeDownloads]:
    """The most downloaded episodes of every show over the span, most first."""
    downloads = func.count()
    rows = session.execute(
        select(Download.episode_id, Episode.show_id, Episode.title, downloads)
        .join(Episode, Episode.id == Download.episode_id)
        .where(Download.day.between(span.start, span.end))
        .group_by(Download.episode_id, Episode.show_id, Episode.title)
        .order_by(downloads.desc(), Download.episode_id)
        .limit(limit)
    )
    return [EpisodeDownloads._make(row) for row in rows]


def episode_report(
    session: Session, episode: Episode, span: DateRange, interval: Interval
) -> EpisodeReport:
    report = _report(session, Download.episode_id == episode.id, span, interval)
    show = session.get_one(Show, episode.show_id)
    return EpisodeReport(show=show.slug, episode_id=episode.id, title=episode.title, **dict(report))


def show_releases(session: Session, show: Show, now: datetime) -> Releases:
    """Each of the show's released episodes' downloads 1, 7, 30 and 90 days after its release,
    newest first."""
    released = session.scalars(
        select(Episode)
        .where(
            Episode.show_id == show.id,
            Episode.status == EpisodeStatus.PUBLISHED,
            Episode.published_at <= now,
        )
        .order_by(Episode.published_at.desc(), Episode.id.desc())
    ).all()
    return Releases(show=show.slug, as_of=now, episodes=_releases(session, released, now))


def episode_release(session: Session, episode: Episode, now: datetime) -> Releases:
    """The episode's downloads 1, 7, 30 and 90 days after its release (none if it is not
    out yet)."""
    show = session.get_one(Show, episode.show_id)
    published = episode.published_at
    out = episode.status == EpisodeStatus.PUBLISHED and published is not None and published <= now
    released = [episode] if out else []
    return Releases(show=show.slug, as_of=now, episodes=_releases(session, released, now))


def _releases(session: Session, released: Sequence[Episode], now: datetime) -> list[EpisodeRelease]:
    """Each episode's downloads whose first request came before its release time plus N
    days (to the second: not whole UTC days, which would give an episode out at 23:00 an hour
    for its first day); None for a time still to come."""
    age = DaysBetween(Download.first_at, Episode.published_at)
    counted = {
        episode_id: counts
        for episode_id, *counts in session.execute(
            select(
                Download.episode_id,
                *(func.sum(case((age < days, 1), else_=0)) for days in RELEASE_DAYS),
            )
            .join(Episode, Episode.id == Download.episode_id)
            .where(
                Download.episode_id.in_([episode.id for episode in released]),
                age < max(RELEASE_DAYS),
            )
            .group_by(Download.episode_id)
        )
    }
    answer = []
    for episode in released:
        assert episode.published_at is not None  # released
        counts = counted.get(episode.id, [0] * len(RELEASE_DAYS))
        milestones = []
        for days, count in zip(RELEASE_DAYS, counts, strict=True):
            until = episode.published_at + timedelta(days=days)
            milestones.append(
                Milestone(days=days, until=until, downloads=count if until <= now else None)
            )
        answer.append(
            EpisodeRelease(
                episode_id=episode.id,
                title=episode.title,
                published_at=episode.published_at,
                after=milestones,
            )
        )
    return answer


def _tallies(
    session: Session, where: Sequence[ColumnElement[bool]], key: SQLColumnExpression[str | None]
) -> list[Tally]:
    rows = session.execute(select(key, func.count()).where(*where).group_by(key))
    ordered = sorted(rows, key=lambda row: (-row[1], row[0] is None, row[0] or ""))
    return [Tally(name=name, downloads=downloads) for name, downloads in ordered]


class _TokenUse(NamedTuple):
    token_id: str
    show_id: int | None
    value: Any  # downloads, or the last poll


def subscriber_report(
    session: Session, subscriber: Subscriber, span: DateRange, *, with_alerts: bool
) -> SubscriberReport:
    """What a subscriber's feeds were used for: each feed URL (the current ones, and earlier
    ones that downloaded or polled), its last poll, the apps and the networks; and, if
    `with_alerts`, every sharing alert about them."""
    within = [Download.subscriber_id == subscriber.id, Download.day.between(span.start, span.end)]
    downloads = [
        _TokenUse._make(row)
        for row in session.execute(
            select(Download.token_id, Download.show_id, func.count())
            .where(*within, Download.token_id.is_not(None))
            .group_by(Download.token_id, Download.show_id)
        )
    ]
    polls = [
        _TokenUse._make(row)
        for row in session.execute(
            select(ListenEvent.token_id, ListenEvent.show_id, func.max(ListenEvent.at))
            .where(
                ListenEvent.subscriber_id == subscriber.id,
                ListenEvent.kind == EventKind.FEED,
                ListenEvent.token_id.is_not(None),
            )
            .group_by(ListenEvent.token_id, ListenEvent.show_id)
        )
    ]
    show_of: dict[str, int | None] = {use.token_id: use.show_id for use in (*downloads, *polls)}
    show_of |= {feed.token_id: feed.show_id for feed in subscriber.feeds}
    slugs = dict(session.execute(select(Show.id, Show.slug)).all())
    downloaded = {use.token_id: use.value for use in downloads}
    polled = {use.token_id: use.value for use in polls}
    current = {feed.token_id for feed in subscriber.feeds}
    feeds = [
        Feed(
            token_id=token,
            show=slugs.get(show_id) if show_id is not None else None,
            current=token in current,
            last_poll=polled.get(token),
            downloads=downloaded.get(token, 0),
        )
        for token, show_id in sorted(show_of.items())
    ]
    return SubscriberReport(
        subscriber_id=subscriber.id,
        start=span.start,
        end=span.end,
        downloads=session.scalar(select(func.count()).where(*within)) or 0,
        last_poll=max(polled.values(), default=None),
        feeds=feeds,
        apps=_tallies(session, within, Download.app),
        prefixes=_tallies(session, within, Download.ip_prefix),
        alerts=[
            SubscriberAlert(**dict(AlertOut.model_validate(alert)), show=slugs.get(alert.show_id))
            for alert in (sharing.of_subscriber(session, subscriber.id) if with_alerts else [])
        ],
    )


def last_polls(session: Session, subscriber_ids: Sequence[int]) -> dict[int, datetime]:
    """Each subscriber's latest feed request among the kept raw events, for a page of
    subscribers in one query (absent: none kept)."""
    rows = session.execute(
        select(ListenEvent.subscriber_id, func.max(ListenEvent.at))
        .where(ListenEvent.subscriber_id.in_(subscriber_ids), ListenEvent.kind == EventKind.FEED)
        .group_by(ListenEvent.subscriber_id)
    )
    return {subscriber_id: at for subscriber_id, at in rows if subscriber_id is not None}


class Listen(NamedTuple):
    """One download of an episode by a subscriber: when (its first request), and by what."""

    at: datetime
    episode: str | None  # None: the episode was deleted since
    show: str | None
    app: str | None  # None: not recognised
    device: str | None


def listening(session: Session, subscriber_id: int, limit: int) -> list[Listen]:
    """The subscriber's latest downloads, newest first (counted by the rollup)."""
    rows = session.execute(
        select(Download.first_at, Episode.title, Show.title, Download.app, Download.device)
        .outerjoin(Episode, Episode.id == Download.episode_id)
        .outerjoin(Show, Show.id == Download.show_id)
        .where(Download.subscriber_id == subscriber_id)
        .order_by(Download.first_at.desc(), Download.id.desc())
        .limit(limit)
    )
    return [Listen._make(row) for row in rows]
