"""Sharing detection: feed URLs whose downloads look like more than one household's.

Judged on downloads (app/analytics' IAB rows) alone: Apple and other apps poll feeds from
their own servers, so where feed polls come from says nothing about who holds a URL. Feed
polls add one thing, Overcast's count of its users that follow the URL.
"""

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, Select, distinct, func, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.service import Action
from app.core.config import Settings
from app.core.db.session import conflict_insert, get_by_id
from app.core.errors import NotFound
from app.models import AlertStatus, Download, EventKind, FeedAccess, ListenEvent, SharingAlert
from app.outbox import service as outbox
from app.outbox import webhooks
from app.sharing.schemas import Evidence, Reason
from app.subscribers import service as subscribers

logger = logging.getLogger(__name__)

# The most networks one household's downloads come from in a window: home Wi-Fi, a phone's
# mobile data, an office. No rule flags a URL within this reach.
HOUSEHOLD_PREFIXES = 3

# Overcast's feed poller says how many of its users follow the URL. Only that number is read
# here; which app made a request is app/analytics/useragents.py's verdict.
OVERCAST_POLL = re.compile(r"Overcast/[\d.]+ Podcast Sync \((\d+) subscribers?;")

# The predicate of the index that allows one unresolved alert per URL (open, or acknowledged:
# seen and the URL kept), as the model declares it: an upsert names it to pick that index,
# and both databases want it as literal SQL (a bound parameter cannot prove it matches).
_UNRESOLVED_INDEX_WHERE = next(
    index.dialect_options["postgresql"]["where"]
    for index in SharingAlert.metadata.tables[SharingAlert.__tablename__].indexes
    if index.name == "uq_sharing_alerts_unresolved_token_id"
)


class Seen(NamedTuple):
    """One download of a feed URL, as far as sharing detection looks at it."""

    token_id: str
    episode_id: int
    ip_prefix: str
    app: str | None
    device: str | None
    first_at: datetime


def detect(session: Session, *, now: datetime, settings: Settings) -> list[SharingAlert]:
    """Open an alert for each current feed URL whose downloads over the last
    `sharing_window_days` look shared, or refresh the evidence of its unresolved alert.
    With `sharing_auto_rotate`, rotate each open one's URL. Returns the alerts touched."""
    since = now - timedelta(days=settings.sharing_window_days)
    in_window = (
        Download.day >= since.date(),  # the indexed column; first_at is the exact bound
        Download.first_at >= since,
        Download.first_at <= now,
    )
    suspects = _beyond_a_household(in_window)
    downloads = _downloads(session, suspects, in_window)
    if not downloads:
        return []
    overcast = _overcast_subscribers(session, suspects, since, now)
    feeds = {
        feed.token_id: feed
        for feed in session.scalars(select(FeedAccess).where(FeedAccess.token_id.in_(suspects)))
    }
    # Alerts already unresolved are refreshed, not announced again. (Two detections at once
    # may both announce a new one: webhooks are delivered at least once anyway.)
    known = set(
        session.scalars(
            select(SharingAlert.id).where(
                SharingAlert.token_id.in_(suspects), _UNRESOLVED_INDEX_WHERE
            )
        )
    )
    alert_ids = []
    for token_id, seen in sorted(downloads.items()):
        evidence = _evidence(seen, overcast.get(token_id), now=now, settings=settings)
        if not evidence.reasons:
            continue
        feed = feeds.get(token_id)
        if feed is None:  # rotated since the downloads were read
            continue
        alert_ids.append(_open_or_refresh(session, feed, evidence, now=now))
    touched = session.scalars(
        select(SharingAlert)
        .where(SharingAlert.id.in_(alert_ids))
        .order_by(SharingAlert.token_id)
        .execution_options(populate_existing=True)  # the upserts bypassed the ORM
    ).all()
    for alert in touched:
        if alert.id not in known:
            webhooks.sharing_suspected(session, alert, now)
            if settings.alerts_email:
                outbox.sharing_alert_email(session, alert.id, to=settings.alerts_email, now=now)
        if settings.sharing_auto_rotate and alert.status == AlertStatus.OPEN:
            _rotate(session, alert, feeds[alert.token_id], now=now)
    session.flush()
    for alert in touched:
        logger.info(
            "sharing alert %s (%s): subscriber %s, show %s, %s",
            alert.id,
            alert.status,
            alert.subscriber_id,
            alert.show_id,
            ", ".join(alert.evidence["reasons"]),
        )
    return list(touched)


def _open_or_refresh(
    session: Session, feed: FeedAccess, evidence: Evidence, *, now: datetime
) -> int:
    """Open an alert for the feed URL, or refresh the evidence of its unresolved one; its id.
    One statement, an upsert on the partial unique index (migration 0007), not a read and
    then an insert: a detection running at the same time in another worker or a command
    cannot slip its alert in between. On PostgreSQL this one waits for the other's
    transaction and then refreshes the alert it opened; on SQLite writers take turns."""
    statement = conflict_insert(session, SharingAlert).values(
        token_id=feed.token_id,
        subscriber_id=feed.subscriber_id,
        show_id=feed.show_id,
        status=AlertStatus.OPEN,
        opened_at=now,
        evidence=evidence.model_dump(mode="json"),
    )
    statement = statement.on_conflict_do_update(
        index_elements=[SharingAlert.token_id],
        index_where=_UNRESOLVED_INDEX_WHERE,
        set_={"evidence": statement.excluded.evidence},
    )
    alert_id: int = session.scalars(statement.returning(SharingAlert.id)).one()
    return alert_id


def _beyond_a_household(in_window: Iterable[ColumnElement[bool]]) -> Select[str | None]:
    """Current feed URLs downloaded from more networks than a household uses: every rule
    needs that, so only these few URLs are looked at closely."""
    return (
        select(Download.token_id)
        .join(FeedAccess, FeedAccess.token_id == Download.token_id)
        .where(*in_window)
        .group_by(Download.token_id)
        .having(func.count(distinct(Download.ip_prefix)) > HOUSEHOLD_PREFIXES)
    )


def _downloads(
    session: Session, token_ids: Select[str | None], in_window: Iterable[ColumnElement[bool]]
) -> dict[str, list[Seen]]:
    rows = session.execute(
        select(
            Download.token_id,
            Download.episode_id,
            Download.ip_prefix,
            Download.app,
            Download.device,
            Download.first_at,
        ).where(Download.token_id.in_(token_ids), *in_window)
    )
    by_token: dict[str, list[Seen]] = defaultdict(list)
    for row in rows:
        seen = Seen._make(row)
        by_token[seen.token_id].append(seen)
    return by_token


def _overcast_subscribers(
    session: Session, token_ids: Select[str | None], since: datetime, now: datetime
) -> dict[str, int]:
    """The largest subscriber count Overcast reported in each URL's feed polls."""
    agents = session.execute(
        select(ListenEvent.token_id, ListenEvent.user_agent)
        .distinct()
        .where(
            ListenEvent.kind == EventKind.FEED,
            ListenEvent.at >= since,
            ListenEvent.at <= now,
            ListenEvent.token_id.in_(token_ids),
            ListenEvent.user_agent.startswith("Overcast/", autoescape=True),
        )
    )
    largest: dict[str, int] = {}
    for token_id, user_agent in agents:
        found = OVERCAST_POLL.match(user_agent)
        if found and token_id is not None:
            largest[token_id] = max(largest.get(token_id, 0), int(found[1]))
    return largest


def _evidence(
    seen: Sequence[Seen], overcast: int | None, *, now: datetime, settings: Settings
) -> Evidence:
    prefixes = sorted({s.ip_prefix for s in seen})
    apps = sorted({s.app for s in seen if s.app})
    devices = sorted({s.device for s in seen if s.device})
    per_episode = Counter(s.episode_id for s in seen)
    networks_per_episode = Counter(e for e, _ in {(s.episode_id, s.ip_prefix) for s in seen})
    widest = max(networks_per_episode.values())
    return Evidence(
        detected_at=now,
        window_days=settings.sharing_window_days,
        first_seen=min(s.first_at for s in seen),
        last_seen=max(s.first_at for s in seen),
        downloads=len(seen),
        prefix_count=len(prefixes),
        app_count=len(apps),
        device_count=len(devices),
        prefixes=prefixes,
        apps=apps,
        devices=devices,
        downloads_per_episode={str(e): n for e, n in sorted(per_episode.items())},
        most_prefixes_per_episode=widest,
        overcast_subscribers=overcast,
        reasons=_reasons(
            prefixes=len(prefixes),
            apps=len(apps),
            widest=widest,
            overcast=overcast,
            settings=settings,
        ),
    )


def _reasons(
    *, prefixes: int, apps: int, widest: int, overcast: int | None, settings: Settings
) -> list[Reason]:
    """The rules a URL breaks. All need more networks than a household (docs/analytics.md,
    "Sharing detection")."""
    if prefixes <= HOUSEHOLD_PREFIXES:
        return []
    reasons = []
    # Many networks, and one episode fetched from beyond a household's reach: one person
    # roaming between networks fetches each episode once, wherever they are.
    if prefixes >= settings.sharing_min_prefixes and widest > HOUSEHOLD_PREFIXES:
        reasons.append(Reason.MANY_NETWORKS)
    if apps >= settings.sharing_min_apps:
        reasons.append(Reason.MANY_APPS)
    if overcast is not None and overcast > 1:
        reasons.append(Reason.OVERCAST_SUBSCRIBERS)
    return reasons


def get(session: Session, alert_id: int) -> SharingAlert:
    return get_by_id(session, SharingAlert, alert_id, "sharing alert")


def list_some(
    session: Session,
    *,
    statuses: Sequence[AlertStatus],
    subscriber_id: int | None,
    limit: int,
    offset: int,
) -> Sequence[SharingAlert]:
    query = (
        select(SharingAlert)
        .where(SharingAlert.status.in_(statuses))
        .order_by(SharingAlert.opened_at.desc(), SharingAlert.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if subscriber_id is not None:
        query = query.where(SharingAlert.subscriber_id == subscriber_id)
    return session.scalars(query).all()


def of_subscriber(session: Session, subscriber_id: int) -> Sequence[SharingAlert]:
    """Every alert about the subscriber's feed URLs, whatever its status, newest first."""
    return session.scalars(
        select(SharingAlert)
        .where(SharingAlert.subscriber_id == subscriber_id)
        .order_by(SharingAlert.opened_at.desc(), SharingAlert.id.desc())
    ).all()


def acknowledge(session: Session, alert: SharingAlert, *, now: datetime) -> SharingAlert:
    """The publisher has seen it and keeps the URL; detection keeps its evidence current.
    A rotated alert stays as it is."""
    if alert.status == AlertStatus.OPEN:
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.closed_at = now
        session.flush()
        audit.record(session, Action.ALERT_ACKNOWLEDGE, alert)
    return alert


def rotate(session: Session, alert: SharingAlert, *, now: datetime) -> FeedAccess:
    """Replace the alert's feed URL (once: a rotated alert's URL is dead already) and close
    the alert. Returns the subscriber's feed for the show, with its new token."""
    feed = session.scalar(
        select(FeedAccess).where(
            FeedAccess.subscriber_id == alert.subscriber_id, FeedAccess.show_id == alert.show_id
        )
    )
    if feed is None:
        raise NotFound(f"Subscriber {alert.subscriber_id} no longer has that show's feed.")
    if alert.status != AlertStatus.ROTATED:
        _rotate(session, alert, feed, now=now)
        session.flush()
    return feed


def _rotate(session: Session, alert: SharingAlert, feed: FeedAccess, *, now: datetime) -> None:
    # Read again, locked: a rotation committed since (by the publisher, or by a detection in
    # another worker) must not be rotated over, killing the URL it just handed out.
    current = session.scalar(
        select(FeedAccess.token_id).where(FeedAccess.id == feed.id).with_for_update()
    )
    if current == alert.token_id:  # else the URL was replaced since, and is dead
        subscriber = subscribers.get(session, feed.subscriber_id)
        subscribers.rotate(session, subscriber, feed.show.slug, now=now)
    alert.status = AlertStatus.ROTATED
    alert.closed_at = now
