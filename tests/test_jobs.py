"""The server's background jobs (app/jobs.py): a pass rolls up, detects sharing and purges;
failures are counted and do not stop the others; jobs wait for their turn; the lifespan
starts and stops the thread. Passes are run directly (`run_once`, `run_due`): no sleeps."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db.engine import Database, build_engine
from app.core.db.session import transaction
from app.core.tokens import TOKEN_ID_LENGTH
from app.jobs import Job, Runner, advisory_lock_key, podpass_jobs
from app.main import create_app
from app.models import Download, EventKind, ListenEvent, SharingAlert
from tests.conftest import Clock, feed_path, subscribe, upload

NOW = datetime(2030, 3, 5, 12, tzinfo=UTC)
APPS = ["Apple Podcasts", "Overcast", "Pocket Casts", "Castro", "Spotify"]


@dataclass
class FixedClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(build_engine(settings.database_url))
    yield database
    database.engine.dispose()


@dataclass(frozen=True)
class Listening:
    episode_id: int
    show_id: int
    subscriber_id: int
    token_id: str


@pytest.fixture
def listening(admin: TestClient, show: dict[str, Any]) -> Listening:
    episode = upload(admin, "sharp-tech", title="Paid", publish=True).json()
    subscriber = subscribe(admin, "forum@example.com", "sharp-tech")
    token_id = feed_path(subscriber, "sharp-tech").split("/")[2][:TOKEN_ID_LENGTH]
    return Listening(episode["id"], episode["show_id"], subscriber["id"], token_id)


def whole_file_gets(listening: Listening, at: datetime, networks: int) -> list[ListenEvent]:
    """One whole-file download of the episode from each of `networks` networks, a different
    app on each, all on one feed URL: a URL posted on a forum."""
    return [
        ListenEvent(
            at=at,
            kind=EventKind.AUDIO,
            token_id=listening.token_id,
            subscriber_id=listening.subscriber_id,
            show_id=listening.show_id,
            episode_id=listening.episode_id,
            status=200,
            method="GET",
            user_agent=f"{APPS[n % len(APPS)]}/1.0",
            ip_hash=f"{n:032x}",
            ip_prefix=f"192.0.{n}.0/24",
            app=APPS[n % len(APPS)],
            device="iPhone",
            device_category="mobile",
            bot=False,
        )
        for n in range(networks)
    ]


def count(session: Session, model: type[Download] | type[ListenEvent] | type[SharingAlert]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_pass_rolls_up_detects_sharing_and_purges(
    db: Database, settings: Settings, listening: Listening
) -> None:
    old = NOW - timedelta(days=settings.event_retention_days + 1)
    with transaction(db.writer) as session:
        session.add_all(whole_file_gets(listening, NOW - timedelta(hours=1), networks=12))
        session.add_all(whole_file_gets(listening, old, networks=3))
    runner = Runner(podpass_jobs(db, settings, sender=None), FixedClock(NOW))

    runner.run_once()

    with transaction(db.reader) as session:
        assert session.scalars(select(Download.day)).all() == [NOW.date()] * 12
        [alert] = session.scalars(select(SharingAlert)).all()
        assert (alert.token_id, alert.status) == (listening.token_id, "open")
        assert alert.evidence["prefix_count"] == 12
        assert alert.evidence["app_count"] == 5
        assert session.scalars(select(ListenEvent.at)).all() == [NOW - timedelta(hours=1)] * 12
    assert runner.health() == {
        "job_rollup_last_run": NOW.isoformat(),
        "job_rollup_failures": 0,
        "job_sharing_last_run": NOW.isoformat(),
        "job_sharing_failures": 0,
        "job_purge_last_run": NOW.isoformat(),
        "job_purge_failures": 0,
        "job_past_due_last_run": NOW.isoformat(),
        "job_past_due_failures": 0,
    }
    runner.run_once()  # again: the same numbers, the same one alert
    with transaction(db.reader) as session:
        assert (count(session, Download), count(session, SharingAlert)) == (12, 1)


def test_a_failing_job_is_counted_and_the_others_run(caplog: pytest.LogCaptureFixture) -> None:
    ran: list[datetime] = []

    def fail(now: datetime) -> None:
        raise RuntimeError("the database is down")

    every = timedelta(minutes=10)
    runner = Runner([Job("broken", every, fail), Job("fine", every, ran.append)], FixedClock(NOW))

    runner.run_once()
    runner.run_once()

    assert ran == [NOW, NOW]
    assert runner.health() == {
        "job_broken_last_run": "",
        "job_broken_failures": 2,
        "job_fine_last_run": NOW.isoformat(),
        "job_fine_failures": 0,
    }
    assert "Background job broken failed (2 failures)" in caplog.text
    assert "the database is down" in caplog.text


def test_each_job_runs_when_due() -> None:
    clock = FixedClock(NOW)
    ran: list[str] = []
    runner = Runner(
        [
            Job("often", timedelta(seconds=5), lambda now: ran.append("often")),
            Job("rarely", timedelta(minutes=10), lambda now: ran.append("rarely")),
        ],
        clock,
    )
    runner.run_due()
    assert ran == []  # the first run is one interval after start
    assert runner.seconds_to_next() == 5

    clock.now += timedelta(seconds=5)
    runner.run_due()
    assert ran == ["often"]
    assert runner.seconds_to_next() == 5

    clock.now += timedelta(minutes=10)
    runner.run_due()
    assert ran == ["often", "often", "rarely"]
    assert runner.seconds_to_next() == 5


def test_a_job_running_in_another_worker_is_skipped(
    db: Database, settings: Settings, listening: Listening
) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers take turns by their BEGIN IMMEDIATE")
    with transaction(db.writer) as session:
        session.add_all(whole_file_gets(listening, NOW - timedelta(hours=1), networks=12))
    runner = Runner(podpass_jobs(db, settings, sender=None), FixedClock(NOW))

    with transaction(db.writer) as other_worker:
        lock = text("SELECT pg_advisory_xact_lock(:key)")
        other_worker.execute(lock, {"key": advisory_lock_key("rollup")})
        runner.run_once()

    with transaction(db.reader) as session:
        assert count(session, Download) == 0  # the rollup was the other worker's
    assert runner.health()["job_rollup_failures"] == 0
    assert runner.health()["job_rollup_last_run"] == NOW.isoformat()


def test_the_lifespan_starts_and_stops_the_jobs_thread(settings: Settings, clock: Clock) -> None:
    app = create_app(settings, clock)
    with TestClient(app) as client:
        jobs: Runner = app.state.jobs
        started = jobs.running
        health = client.get("/healthz").json()
        assert (health["job_rollup_last_run"], health["job_rollup_failures"]) == ("", 0)
    assert (started, jobs.running) == (True, False)

    off = create_app(settings.model_copy(update={"background_jobs": False}), clock)
    with TestClient(off):
        assert not off.state.jobs.running
