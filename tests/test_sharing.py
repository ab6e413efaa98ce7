"""Sharing detection: which feed URLs look shared, the alerts' evidence, and acting on them.

Download and ListenEvent rows are inserted directly (recording and the rollup make them in
production), each at a time relative to one injected "now"."""

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from app.cli import main as podpass
from app.core.clock import utcnow
from app.core.config import Settings, get_settings
from app.core.db.engine import Database, build_engine
from app.core.db.session import transaction
from app.core.tokens import TOKEN_ID_LENGTH
from app.models import (
    AlertStatus,
    Download,
    EventKind,
    ListenEvent,
    OutboxKind,
    OutboxMessage,
    SharingAlert,
)
from app.sharing import service as sharing
from tests.conftest import ADMIN_KEY, SECRET_KEY, feed_path, subscribe

NOW = utcnow().replace(microsecond=0)
APPS = ["Apple Podcasts", "Overcast", "Pocket Casts", "Castro", "Spotify"]
DEVICES = ["iPhone", "Android phone", "Mac", "Windows computer"]
APPLE_POLLER = "iTMS"  # Apple's servers poll for every Apple Podcasts listener
HOME, PHONE, OFFICE = "198.51.100.0/24", "203.0.113.0/24", "2001:db8:1::/48"


@dataclass(frozen=True)
class Feed:
    """One subscriber's feed URL for the show, as the analytics tables know it."""

    subscriber_id: int
    show_id: int
    path: str

    @property
    def token_id(self) -> str:
        return self.path.split("/")[2][:TOKEN_ID_LENGTH]


NewFeed = Callable[[str], Feed]
Scenario = Callable[[Database, Feed], None]


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(build_engine(settings.database_url))
    yield database
    database.engine.dispose()


@pytest.fixture
def new_feed(admin: TestClient, show: dict[str, Any]) -> NewFeed:
    def make(email: str) -> Feed:
        subscriber = subscribe(admin, email, "sharp-tech")
        return Feed(subscriber["id"], show["id"], feed_path(subscriber, "sharp-tech"))

    return make


def network(n: int) -> str:
    return f"192.0.{n}.0/24"


def add_downloads(
    db: Database, feed: Feed, *downloads: tuple[int, str, str | None, str, int]
) -> None:
    """(episode id, network prefix, app, device, hours before NOW) per download."""
    with transaction(db.writer) as session:
        for episode_id, prefix, app, device, hours_ago in downloads:
            at = NOW - timedelta(hours=hours_ago)
            session.add(
                Download(
                    day=at.date(),
                    show_id=feed.show_id,
                    episode_id=episode_id,
                    ip_hash=secrets.token_hex(16),
                    user_agent=f"{app} on {device}",
                    first_at=at,
                    token_id=feed.token_id,
                    subscriber_id=feed.subscriber_id,
                    ip_prefix=prefix,
                    app=app,
                    device=device,
                    device_category="mobile",
                )
            )


def add_feed_polls(db: Database, feed: Feed, user_agent: str, prefixes: list[str]) -> None:
    with transaction(db.writer) as session:
        for hours_ago, prefix in enumerate(prefixes):
            session.add(
                ListenEvent(
                    at=NOW - timedelta(hours=hours_ago),
                    kind=EventKind.FEED,
                    token_id=feed.token_id,
                    subscriber_id=feed.subscriber_id,
                    show_id=feed.show_id,
                    status=200,
                    method="GET",
                    user_agent=user_agent,
                    ip_hash=secrets.token_hex(16),
                    ip_prefix=prefix,
                    bot=False,
                )
            )


def overcast_poll(subscribers: int) -> str:
    return f"Overcast/1.0 Podcast Sync ({subscribers} subscribers; feed-id=12345; +http://overcast.fm/)"


def detect(db: Database, settings: Settings) -> list[dict[str, Any]]:
    """Run detection; each alert it touched, as plain values."""
    with transaction(db.writer) as session:
        alerts = sharing.detect(session, now=NOW, settings=settings)
        return [
            {
                "id": a.id,
                "token_id": a.token_id,
                "subscriber_id": a.subscriber_id,
                "show_id": a.show_id,
                "status": a.status,
                "opened_at": a.opened_at,
                "closed_at": a.closed_at,
                "evidence": a.evidence,
            }
            for a in alerts
        ]


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def alert_count(db: Database) -> int:
    with transaction(db.reader) as session:
        return session.scalar(select(func.count()).select_from(SharingAlert)) or 0


def shared_widely(db: Database, feed: Feed) -> None:
    """The URL posted on a forum: three episodes, each fetched on 12 networks in 5 apps."""
    add_downloads(
        db,
        feed,
        *(
            (episode, network(n), APPS[n % 5], DEVICES[n % 4], 24 * (episode * 2 - 1) + n)
            for n in range(12)
            for episode in (1, 2, 3)
        ),
    )


def household(db: Database, feed: Feed) -> None:
    """Home Wi-Fi, a phone on mobile data and an office; two apps; four devices; a daily
    show's week, most episodes on three of the devices, some fetched again elsewhere."""
    apple = "Apple Podcasts"
    downloads = []
    for day in range(7):
        episode, hours = 10 + day, 24 * day + 2
        downloads += [
            (episode, HOME, apple, "iPhone", hours),
            (episode, HOME, apple, "Mac", hours),
            (episode, HOME, "Overcast", "iPad", hours),
            (episode, PHONE, apple, "iPhone", hours - 1),
            (episode, OFFICE, apple, "HomePod", hours - 1),
        ]
    add_downloads(db, feed, *downloads)


def test_a_widely_shared_url_raises_an_alert_with_its_evidence(
    db: Database, settings: Settings, new_feed: NewFeed
) -> None:
    shared, family = new_feed("forum@example.com"), new_feed("family@example.com")
    shared_widely(db, shared)
    household(db, family)
    # Before the window: neither counted nor seen.
    add_downloads(db, shared, (1, network(99), "Podcast Addict", "Android phone", 24 * 7 + 1))

    alerts = detect(db, settings)

    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert["token_id"], alert["subscriber_id"], alert["show_id"]) == (
        shared.token_id,
        shared.subscriber_id,
        shared.show_id,
    )
    assert (alert["status"], alert["opened_at"], alert["closed_at"]) == ("open", NOW, None)
    evidence = alert["evidence"]
    assert evidence["reasons"] == ["many_networks", "many_apps"]
    assert evidence["prefix_count"] == 12
    assert evidence["prefixes"] == sorted(network(n) for n in range(12))
    assert evidence["app_count"] == 5
    assert evidence["apps"] == sorted(APPS)
    assert evidence["devices"] == sorted(DEVICES)
    assert evidence["device_count"] == 4
    assert evidence["downloads"] == 36
    assert evidence["downloads_per_episode"] == {"1": 12, "2": 12, "3": 12}
    assert evidence["most_prefixes_per_episode"] == 12
    assert evidence["overcast_subscribers"] is None
    assert when(evidence["first_seen"]) == NOW - timedelta(hours=24 * 5 + 11)
    assert when(evidence["last_seen"]) == NOW - timedelta(hours=24)
    assert evidence["window_days"] == 7
    assert when(evidence["detected_at"]) == NOW


def traveller(db: Database, feed: Feed) -> None:
    """One phone streaming a daily show on the move: each episode fetched once, on whatever
    network it was on (seven of them), in one app."""
    add_downloads(
        db,
        feed,
        *((20 + day, network(50 + day), "Castro", "iPhone", 24 * day + 3) for day in range(7)),
    )


def polled_by_apple(db: Database, feed: Feed) -> None:
    """Apple's servers poll the feed from 40 networks; the one listener downloads at home."""
    add_feed_polls(db, feed, APPLE_POLLER, [network(100 + n) for n in range(40)])
    add_downloads(
        db, feed, *((30 + day, HOME, "Apple Podcasts", "iPhone", 24 * day) for day in range(7))
    )


def household_with_two_overcast_accounts(db: Database, feed: Feed) -> None:
    household(db, feed)
    add_feed_polls(db, feed, overcast_poll(2), ["2600:3c00::/48"] * 5)


@pytest.mark.parametrize(
    "innocent", [household, household_with_two_overcast_accounts, traveller, polled_by_apple]
)
def test_households_travellers_and_feed_polls_are_not_flagged(
    db: Database, settings: Settings, new_feed: NewFeed, innocent: Scenario
) -> None:
    shared, other = new_feed("forum@example.com"), new_feed("innocent@example.com")
    shared_widely(db, shared)
    innocent(db, other)
    assert [a["token_id"] for a in detect(db, settings)] == [shared.token_id]


def friends(db: Database, feed: Feed) -> None:
    """Four networks and two apps: no more than a household could show, apart from the
    number of networks, and each episode fetched on two of them."""
    add_downloads(
        db,
        feed,
        *(
            (40 + day, [HOME, PHONE, network(7), network(8)][day % 4], app, "iPhone", 24 * day + h)
            for day in range(7)
            for h, app in enumerate(["Overcast", "Apple Podcasts"])
        ),
    )


@pytest.mark.parametrize(
    ("downloads", "polls", "flagged"),
    [
        # Overcast counts three of its users on the URL: more than one person holds it.
        (friends, [overcast_poll(1), overcast_poll(3), overcast_poll(2)], 3),
        # One Overcast user; another feed reader's count is not Overcast's.
        (
            friends,
            [overcast_poll(1), "Feedly/1.0 (+http://www.feedly.com; 42 subscribers; )"],
            None,
        ),
        # Within a household's networks, no count accuses anyone.
        (household, [overcast_poll(5)], None),
    ],
)
def test_overcast_subscriber_count_tips_the_balance(
    db: Database,
    settings: Settings,
    new_feed: NewFeed,
    downloads: Scenario,
    polls: list[str],
    flagged: int | None,
) -> None:
    feed = new_feed("fan@example.com")
    downloads(db, feed)
    for user_agent in polls:
        add_feed_polls(db, feed, user_agent, [network(200)])

    alerts = detect(db, settings)

    if flagged is None:
        assert alerts == []
    else:
        [alert] = alerts
        assert alert["evidence"]["reasons"] == ["overcast_subscribers"]
        assert alert["evidence"]["overcast_subscribers"] == flagged
        assert alert["evidence"]["prefix_count"] == 4


def test_detecting_again_updates_the_one_alert(
    admin: TestClient, db: Database, settings: Settings, new_feed: NewFeed
) -> None:
    endpoint = {"url": "https://hooks.example.com/podpass", "events": ["sharing.suspected"]}
    admin.post("/admin/webhook-endpoints", json=endpoint).raise_for_status()
    feed = new_feed("forum@example.com")
    shared_widely(db, feed)
    [first] = detect(db, settings)
    add_downloads(db, feed, (4, network(12), "Podcast Addict", "Android phone", 1))

    [again] = detect(db, settings)

    assert again["id"] == first["id"]
    assert alert_count(db) == 1
    # Announced to the publisher's webhook endpoints when it opened, not when refreshed.
    with transaction(db.reader) as session:
        announced = session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.kind == OutboxKind.WEBHOOK)
        ).all()
    assert [(p["type"], p["subject_id"]) for p in announced] == [("sharing.suspected", first["id"])]
    assert again["evidence"]["downloads"] == 37
    assert again["evidence"]["prefix_count"] == 13
    assert "Podcast Addict" in again["evidence"]["apps"]


def test_acknowledge_through_the_api(
    db: Database, settings: Settings, admin: TestClient, new_feed: NewFeed
) -> None:
    feed = new_feed("forum@example.com")
    shared_widely(db, feed)
    [alert] = detect(db, settings)
    listed = admin.get("/admin/sharing/alerts").json()
    assert [a["id"] for a in listed] == [alert["id"]]
    assert listed[0]["evidence"]["prefix_count"] == 12

    acknowledged = admin.post(f"/admin/sharing/alerts/{alert['id']}/acknowledge")

    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["status"] == "acknowledged"
    assert acknowledged.json()["closed_at"] is not None
    assert admin.get("/admin/sharing/alerts").json() == []
    by_status = admin.get("/admin/sharing/alerts", params={"status": ["open", "acknowledged"]})
    assert [a["id"] for a in by_status.json()] == [alert["id"]]
    # Still shared: the acknowledged alert's evidence is refreshed, and no new one opens.
    add_downloads(db, feed, (4, network(12), "Podcast Addict", "Android phone", 1))
    [again] = detect(db, settings)
    assert (again["id"], again["status"]) == (alert["id"], "acknowledged")
    assert alert_count(db) == 1
    read = admin.get(f"/admin/sharing/alerts/{alert['id']}").json()
    assert read["evidence"]["downloads"] == 37
    assert admin.get(f"/admin/sharing/alerts/{alert['id'] + 1}").status_code == 404


def test_rotate_through_the_api(
    db: Database, settings: Settings, admin: TestClient, new_feed: NewFeed
) -> None:
    feed = new_feed("forum@example.com")
    shared_widely(db, feed)
    [alert] = detect(db, settings)
    assert admin.get(feed.path).status_code == 200

    rotated = admin.post(f"/admin/sharing/alerts/{alert['id']}/rotate")

    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["status"] == "rotated"
    assert body["closed_at"] is not None
    subscriber = admin.get(f"/admin/subscribers/{feed.subscriber_id}").json()
    assert body["feed_url"] == subscriber["feeds"][0]["feed_url"]
    new_path = feed_path(subscriber, "sharp-tech")
    assert new_path != feed.path
    assert admin.get(feed.path).status_code == 404
    assert admin.get(new_path).status_code == 200
    # A second click does not kill the URL just handed out.
    again = admin.post(f"/admin/sharing/alerts/{alert['id']}/rotate")
    assert again.json()["feed_url"] == body["feed_url"]
    assert admin.get(new_path).status_code == 200
    acknowledged = admin.post(f"/admin/sharing/alerts/{alert['id']}/acknowledge")
    assert acknowledged.json()["status"] == "rotated"
    # The dead URL's downloads are history: no alert for it, none for the new one.
    assert detect(db, settings) == []
    assert alert_count(db) == 1


def test_auto_rotate_rotates_and_the_old_url_dies(
    db: Database, settings: Settings, admin: TestClient, new_feed: NewFeed
) -> None:
    feed = new_feed("forum@example.com")
    shared_widely(db, feed)

    [alert] = detect(db, settings.model_copy(update={"sharing_auto_rotate": True}))

    assert (alert["status"], alert["closed_at"]) == (AlertStatus.ROTATED, NOW)
    assert admin.get(feed.path).status_code == 404
    subscriber = admin.get(f"/admin/subscribers/{feed.subscriber_id}").json()
    assert admin.get(feed_path(subscriber, "sharp-tech")).status_code == 200
    listed = admin.get("/admin/sharing/alerts", params={"status": "rotated"}).json()
    assert [a["id"] for a in listed] == [alert["id"]]


def test_the_detect_command(
    db: Database,
    settings: Settings,
    new_feed: NewFeed,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    feed = new_feed("forum@example.com")
    shared_widely(db, feed)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PODPASS_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("PODPASS_ADMIN_KEY", ADMIN_KEY)
    get_settings.cache_clear()
    try:
        assert podpass(["sharing", "detect"]) == 0
    finally:
        get_settings.cache_clear()
    [alert] = admin_alerts(db)
    assert f"alert {alert.id} (open)  subscriber {feed.subscriber_id}" in capsys.readouterr().out


def admin_alerts(db: Database) -> list[SharingAlert]:
    with transaction(db.reader) as session:
        return list(session.scalars(select(SharingAlert)))


def wait_for_a_lock_wait(db: Database) -> None:
    """On PostgreSQL, until another connection waits for a lock (the second detection, for
    the first's uncommitted alert). SQLite's second writer cannot begin before the first
    commits, whenever it starts: there is nothing to wait for."""
    if db.engine.dialect.name != "postgresql":
        return
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 10
    with db.engine.connect() as connection:
        while not connection.execute(waiting).scalar_one():
            assert time.monotonic() < deadline, "the second detection never waited"
            threading.Event().wait(0.01)
            connection.rollback()  # a fresh snapshot of pg_stat_activity


def test_two_detections_at_once_share_one_alert(
    db: Database, settings: Settings, new_feed: NewFeed
) -> None:
    """Two workers' detections overlap: the second finds no unresolved alert when it starts,
    while the first's is not yet committed; it refreshes that alert instead of failing on the
    unique index or opening another."""
    feed = new_feed("forum@example.com")
    shared_widely(db, feed)
    later = NOW + timedelta(minutes=1)
    second: list[tuple[int, str]] = []

    def detect_later() -> None:
        with transaction(db.writer) as session:
            alerts = sharing.detect(session, now=later, settings=settings)
            second.extend((a.id, a.evidence["detected_at"]) for a in alerts)

    with transaction(db.writer) as session:
        [opened] = sharing.detect(session, now=NOW, settings=settings)
        opened_id = opened.id
        other = threading.Thread(target=detect_later)
        other.start()
        wait_for_a_lock_wait(db)
    other.join()

    assert alert_count(db) == 1
    assert [alert_id for alert_id, _ in second] == [opened_id]
    [alert] = admin_alerts(db)
    assert (alert.id, alert.status, alert.opened_at) == (opened_id, "open", NOW)
    assert when(alert.evidence["detected_at"]) == later
