"""Recording (analytics stage one): what each feed poll and audio request leaves behind,
how addresses are hashed and cut to prefixes, the daily salt, the bounded queue, shutdown."""

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from app.analytics.anonymise import Place, place
from app.analytics.recorder import Recorder, first_range
from app.core.config import Settings
from app.core.db.engine import Database, build_engine
from app.core.db.session import transaction
from app.core.tokens import TOKEN_ID_LENGTH
from app.main import create_app
from app.models import DailySalt, EventKind, ListenEvent
from tests.conftest import ADMIN_KEY, MP3, Clock, create_show, feed_path, subscribe, upload
from tests.servers import ACCESS_KEY, SECRET_KEY, moto_server
from tests.test_s3 import BUCKET, s3_client, s3_settings

PHONE = "203.0.113.7"
OVERCAST = "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)"
LISTENER = {"User-Agent": OVERCAST}


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    """The app, as a phone at PHONE reaches it. Its recorder's own thread waits a minute
    between writes, so each test writes when it says (`recorder.flush()`)."""
    quiet = settings.model_copy(update={"analytics_flush_seconds": 60})
    with TestClient(create_app(quiet, clock), client=(PHONE, 50000)) as test_client:
        yield test_client


def recorder_of(client: TestClient) -> Recorder:
    recorder: Recorder = client.app.state.recorder  # type: ignore[attr-defined]
    return recorder


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(build_engine(settings.database_url))
    yield database
    database.engine.dispose()


def events(db: Database) -> list[ListenEvent]:
    with transaction(db.reader) as session:
        return list(session.scalars(select(ListenEvent).order_by(ListenEvent.id)))


@dataclass
class FixedClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def hit(recorder: Recorder, ip: str, *, user_agent: str = OVERCAST) -> None:
    recorder.record(
        EventKind.AUDIO,
        206,
        "GET",
        token_id=None,
        subscriber_id=None,
        show_id=None,
        episode_id=None,
        byte_range="bytes=0-",
        user_agent=user_agent,
        ip=ip,
    )


@pytest.fixture
def published(admin: TestClient, show: dict[str, Any]) -> dict[str, Any]:
    response = upload(admin, "sharp-tech", title="Paid", publish=True)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def subscriber(admin: TestClient, published: dict[str, Any]) -> dict[str, Any]:
    return subscribe(admin, "fan@example.com", "sharp-tech")


def audio_path(client: TestClient, feed: str) -> str:
    (entry,) = feedparser.parse(client.get(feed).content).entries
    href: str = entry.enclosures[0].href
    return href.removeprefix("http://testserver")


def test_feed_polls_are_recorded(
    client: TestClient, db: Database, subscriber: dict[str, Any], show: dict[str, Any]
) -> None:
    path = feed_path(subscriber, "sharp-tech")
    token_id = path.split("/")[2][:TOKEN_ID_LENGTH]
    etag = client.get(path, headers=LISTENER).headers["etag"]
    assert client.get(path, headers=LISTENER | {"If-None-Match": etag}).status_code == 304
    assert client.head(path, headers=LISTENER).status_code == 200
    assert client.get("/shows/sharp-tech/feed.xml", headers=LISTENER).status_code == 200
    assert events(db) == []  # nothing is written on the request path

    assert recorder_of(client).flush() == 4
    polls = events(db)
    assert [(e.kind, e.status, e.method) for e in polls] == [
        ("feed", 200, "GET"),
        ("feed", 304, "GET"),
        ("feed", 200, "HEAD"),
        ("feed", 200, "GET"),
    ]
    private, public = polls[0], polls[3]
    assert (private.token_id, private.subscriber_id, private.show_id) == (
        token_id,
        subscriber["id"],
        show["id"],
    )
    assert (public.token_id, public.subscriber_id, public.show_id) == (None, None, show["id"])
    for event in polls:
        assert event.episode_id is None
        assert (event.range_start, event.range_end) == (None, None)
        assert event.user_agent == OVERCAST
        assert (event.app, event.device, event.device_category, event.bot) == (
            "Overcast",
            "Apple iPhone",
            "mobile",
            False,
        )
        assert event.ip_prefix == "203.0.113.0/24"
        assert len(event.ip_hash) == 32
        assert PHONE not in event.ip_hash
        assert datetime.now(UTC) - timedelta(minutes=1) < event.at <= datetime.now(UTC)
    assert len({e.ip_hash for e in polls}) == 1


def test_audio_requests_are_recorded(
    client: TestClient,
    db: Database,
    subscriber: dict[str, Any],
    published: dict[str, Any],
    admin: TestClient,
) -> None:
    audio = audio_path(client, feed_path(subscriber, "sharp-tech"))
    size = MP3.stat().st_size
    asked = [
        ("GET", "bytes=0-1", 206),
        ("GET", "bytes=100-", 206),
        ("GET", "bytes=-100", 206),
        ("GET", f"bytes={size}-", 416),
        ("GET", None, 200),
        ("HEAD", None, 200),
        ("GET", "lines=1-2", 200),  # not bytes: the whole file
    ]
    for method, byte_range, status in asked:
        headers = LISTENER | ({"Range": byte_range} if byte_range else {})
        assert client.request(method, audio, headers=headers).status_code == status
    free = upload(admin, "sharp-tech", title="Free", publish=True, free=True).json()
    public = f"/shows/sharp-tech/episodes/{free['id']}.mp3"
    assert client.get(public, headers=LISTENER | {"Range": "bytes=0-"}).status_code == 206

    recorder_of(client).flush()
    heard = [e for e in events(db) if e.kind == EventKind.AUDIO]
    assert [(e.method, e.status, e.range_start, e.range_end) for e in heard] == [
        ("GET", 206, 0, 1),
        ("GET", 206, 100, None),
        ("GET", 206, None, 100),  # a suffix: the last 100 bytes
        ("GET", 416, size, None),
        ("GET", 200, None, None),
        ("HEAD", 200, None, None),
        ("GET", 200, None, None),
        ("GET", 206, 0, None),
    ]
    token_id = audio.split("/")[2][:TOKEN_ID_LENGTH]
    for event in heard[:-1]:
        assert (event.token_id, event.subscriber_id, event.show_id, event.episode_id) == (
            token_id,
            subscriber["id"],
            published["show_id"],
            published["id"],
        )
    assert (heard[-1].token_id, heard[-1].subscriber_id) == (None, None)
    assert (heard[-1].show_id, heard[-1].episode_id) == (published["show_id"], free["id"])
    assert {(e.app, e.ip_prefix) for e in heard} == {("Overcast", "203.0.113.0/24")}


def test_a_download_keeps_its_holder_when_the_url_is_rotated_before_the_write(
    client: TestClient,
    db: Database,
    subscriber: dict[str, Any],
    published: dict[str, Any],
    admin: TestClient,
) -> None:
    audio = audio_path(client, feed_path(subscriber, "sharp-tech"))
    assert client.get(audio, headers=LISTENER | {"Range": "bytes=0-"}).status_code == 206
    admin.post(f"/admin/subscribers/{subscriber['id']}/shows/sharp-tech/rotate")
    recorder_of(client).flush()
    (heard,) = [e for e in events(db) if e.kind == EventKind.AUDIO]
    assert (heard.subscriber_id, heard.show_id) == (subscriber["id"], published["show_id"])


def test_refusals_of_a_known_token_are_recorded_unknown_tokens_are_not(
    client: TestClient, admin: TestClient, db: Database, subscriber: dict[str, Any]
) -> None:
    feed = feed_path(subscriber, "sharp-tech")
    audio = audio_path(client, feed)
    recorder_of(client).flush()
    token_id = feed.split("/")[2][:TOKEN_ID_LENGTH]
    admin.post(f"/admin/subscribers/{subscriber['id']}/lapse")
    assert client.get(audio, headers=LISTENER).status_code == 403
    admin.post(f"/admin/subscribers/{subscriber['id']}/revoke")
    assert client.get(feed, headers=LISTENER).status_code == 410
    unknown = "A" * 55
    assert client.get(f"/p/{unknown}/feed.xml", headers=LISTENER).status_code == 404
    assert client.get(f"/p/{unknown}/1.mp3", headers=LISTENER).status_code == 404

    before = len(events(db))
    assert recorder_of(client).flush() == 2
    refused = events(db)[before:]
    assert [(e.kind, e.status, e.token_id, e.subscriber_id) for e in refused] == [
        ("audio", 403, token_id, subscriber["id"]),
        ("feed", 410, token_id, subscriber["id"]),
    ]


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.7", Place("203.0.113.7", "203.0.113.0/24")),
        ("::ffff:203.0.113.7", Place("203.0.113.7", "203.0.113.0/24")),  # dual-stack socket
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", Place("2001:db8:1:2::", "2001:db8:1::/48")),
        ("testclient", Place("testclient", "")),
    ],
)
def test_addresses_are_cut_to_prefixes(ip: str, expected: Place) -> None:
    assert place(ip) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-1", (0, 1)),
        ("bytes=500-", (500, None)),
        ("bytes=-500", (None, 500)),
        ("bytes=0-99, 200-299", (0, 99)),
        ("BYTES = 7-8", (7, 8)),
        ("bytes=-", (None, None)),
        ("bytes=a-b", (None, None)),
        ("items=0-1", (None, None)),
        (None, (None, None)),
    ],
)
def test_first_range_as_asked(header: str | None, expected: tuple[int | None, int | None]) -> None:
    assert first_range(header) == expected


def test_ipv6_hashes_per_64_and_ipv4_per_address(db: Database) -> None:
    recorder = Recorder(db, FixedClock(datetime(2030, 3, 1, 12, tzinfo=UTC)), **SMALL)
    addresses = [
        "2001:db8:1:2::1",
        "2001:db8:1:2:ffff::9",  # the same /64: one household
        "2001:db8:1:3::1",  # the same /48, another /64
        "203.0.113.7",
        "203.0.113.200",  # the same /24, another address
    ]
    for ip in addresses:
        hit(recorder, ip)
    recorder.flush()
    rows = events(db)
    hashes = [e.ip_hash for e in rows]
    assert hashes[0] == hashes[1]
    assert len(set(hashes)) == 4
    assert [e.ip_prefix for e in rows] == ["2001:db8:1::/48"] * 3 + ["203.0.113.0/24"] * 2
    with transaction(db.reader) as session:
        salt = bytes.fromhex(session.scalars(select(DailySalt.salt)).one())
    expected = hmac.new(salt, b"2001:db8:1:2::", hashlib.sha256).hexdigest()[:32]
    assert hashes[0] == expected


SMALL = {"queue_size": 100, "flush_seconds": 60}


def test_the_salt_is_per_day_shared_and_deleted_after_yesterday(db: Database) -> None:
    noon = datetime(2030, 3, 1, 12, tzinfo=UTC)
    first, second = Recorder(db, FixedClock(noon), **SMALL), Recorder(db, FixedClock(noon), **SMALL)
    later_clock = FixedClock(noon + timedelta(days=1))
    later = Recorder(db, later_clock, **SMALL)
    for recorder in (first, second, later):
        hit(recorder, PHONE)
        recorder.flush()
    same_day, other_worker, next_day = (e.ip_hash for e in events(db))
    assert same_day == other_worker  # two workers, one salt for the day
    assert next_day != same_day

    def salt_days() -> list[date]:
        with transaction(db.reader) as session:
            return sorted(session.scalars(select(DailySalt.day)))

    assert salt_days() == [date(2030, 3, 1), date(2030, 3, 2)]
    later_clock.now += timedelta(days=1)
    hit(later, PHONE)
    later.flush()
    # The 1st's salt is gone: its hashes can no longer be matched to an address.
    assert salt_days() == [date(2030, 3, 2), date(2030, 3, 3)]


def test_a_large_batch_across_midnight_is_written_whole(db: Database) -> None:
    """More hits than one INSERT takes, in two days: every one written, in order, its time
    stored as the ORM stores times (so a query at the exact boundary splits the days), and
    hashed under its own day's salt."""
    midnight = datetime(2030, 3, 2, tzinfo=UTC)
    clock = FixedClock(midnight - timedelta(microseconds=1))
    recorder = Recorder(db, clock, queue_size=5000, flush_seconds=60)
    for n in range(1201):
        if n == 700:
            clock.now = midnight
        hit(recorder, f"203.0.113.{n % 2}")

    assert recorder.flush() == 1201

    rows = events(db)
    assert [e.at for e in rows] == [midnight - timedelta(microseconds=1)] * 700 + [midnight] * 501
    with transaction(db.reader) as session:
        after = select(func.count()).where(ListenEvent.at >= midnight)
        assert session.scalar(after) == 501
    hashes = [{e.ip_hash for e in rows[start::2]} for start in (0, 1)]
    assert [len(each) for each in hashes] == [2, 2]  # each address: one hash a day
    assert hashes[0].isdisjoint(hashes[1])


def test_a_full_queue_drops_and_counts(db: Database) -> None:
    recorder = Recorder(
        db, FixedClock(datetime(2030, 3, 1, tzinfo=UTC)), **SMALL | {"queue_size": 2}
    )
    for _ in range(5):
        hit(recorder, PHONE)
    assert (recorder.queued, recorder.dropped) == (2, 3)
    assert recorder.flush() == 2
    hit(recorder, PHONE)  # room again
    assert (recorder.queued, recorder.dropped) == (1, 3)
    assert len(events(db)) == 2


@contextmanager
def write_locked(db: Database) -> Iterator[None]:
    """Hold the write lock that the recorder's insert needs, as a long transaction would."""
    with transaction(db.writer) as session:
        if db.engine.dialect.name == "postgresql":
            session.execute(text("LOCK TABLE listen_events IN EXCLUSIVE MODE"))
        else:
            session.execute(text("SELECT 1"))  # the writer's BEGIN IMMEDIATE holds the lock
        yield


def test_requests_are_answered_while_a_write_is_held_up(
    settings: Settings, clock: Clock, db: Database, subscriber: dict[str, Any]
) -> None:
    small = settings.model_copy(update={"analytics_queue_size": 2, "analytics_flush_seconds": 60})
    path = feed_path(subscriber, "sharp-tech")
    with TestClient(create_app(small, clock), client=(PHONE, 50000)) as client:
        recorder = recorder_of(client)
        client.get(path, headers=LISTENER)
        with write_locked(db):
            writer = threading.Thread(target=recorder.flush)
            writer.start()  # takes the queued poll, then waits for the lock
            deadline = time.monotonic() + 10
            while recorder.queued and time.monotonic() < deadline:
                time.sleep(0.01)
            for _ in range(5):  # answered at once, though nothing can be written
                assert client.get(path, headers=LISTENER).status_code == 200
            assert writer.is_alive()
            health = client.get("/healthz").json()
            assert (health["analytics_queued"], health["analytics_dropped"]) == (2, 3)
        writer.join()  # the lock is released: the write goes through
        assert len(events(db)) == 1
    assert len(events(db)) == 3  # shutdown wrote the queue


def test_shutdown_writes_what_is_queued(
    settings: Settings, clock: Clock, db: Database, subscriber: dict[str, Any]
) -> None:
    quiet = settings.model_copy(update={"analytics_flush_seconds": 60})
    with TestClient(create_app(quiet, clock), client=(PHONE, 50000)) as client:
        client.get(feed_path(subscriber, "sharp-tech"), headers=LISTENER)
        assert recorder_of(client).queued == 1
        assert events(db) == []
    assert [(e.kind, e.status) for e in events(db)] == [("feed", 200)]


def test_analytics_off_records_nothing(
    settings: Settings, clock: Clock, db: Database, subscriber: dict[str, Any]
) -> None:
    off = settings.model_copy(update={"analytics": False})
    with TestClient(create_app(off, clock), client=(PHONE, 50000)) as client:
        feed = feed_path(subscriber, "sharp-tech")
        assert client.get(audio_path(client, feed), headers=LISTENER).status_code == 200
        assert client.app.state.recorder is None  # type: ignore[attr-defined]
        health = client.get("/healthz").json()
        assert (health["analytics_queued"], health["analytics_dropped"]) == (0, 0)
    assert events(db) == []


def test_s3_redirects_are_recorded(
    settings: Settings, clock: Clock, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    with moto_server() as endpoint:
        s3_client(endpoint).create_bucket(Bucket=BUCKET)
        on_s3 = s3_settings(settings, endpoint).model_copy(update={"analytics_flush_seconds": 60})
        with TestClient(create_app(on_s3, clock), client=(PHONE, 50000)) as client:
            client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
            create_show(client)
            episode = upload(client, "sharp-tech", title="Paid", publish=True).json()
            audio = audio_path(
                client, feed_path(subscribe(client, "s3@example.com", "sharp-tech"), "sharp-tech")
            )
            ranged = LISTENER | {"Range": "bytes=0-1"}
            assert client.get(audio, headers=ranged, follow_redirects=False).status_code == 302
            assert client.head(audio, headers=LISTENER).status_code == 200
            recorder_of(client).flush()
    heard = [e for e in events(db) if e.kind == EventKind.AUDIO]
    assert [(e.method, e.status, e.range_start, e.range_end, e.episode_id) for e in heard] == [
        ("GET", 302, 0, 1, episode["id"]),
        ("HEAD", 200, None, None, episode["id"]),
    ]
