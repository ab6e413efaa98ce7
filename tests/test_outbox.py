"""The outbox delivers at least once, through a real SMTP server (aiosmtpd in its own
process) that goes down and comes back: retries spaced by the backoff, dead letters the
admin API lists and retries, a dead sender's claims taken over after their lease (also with
`podpass worker` killed by SIGKILL mid-batch), and senders running at once that never send
one message twice."""

import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from app.config import Settings, SmtpSecurity
from app.db import Database, build_engine, transaction
from app.main import create_app
from app.models import OutboxKind, OutboxMessage, OutboxStatus
from app.outbox import service
from app.outbox.sender import Sender
from tests.conftest import Clock, create_show, server_env, subscribe
from tests.servers import BIN, SmtpServer
from tests.test_billing import event, send

BACKOFF = 60.0
LEASE = timedelta(minutes=5)


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path / "maildir")  # not started: each test decides when it is up
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_security": SmtpSecurity.NONE,
            "outbox_in_app": False,  # the tests send, at the times they choose
            "smtp_timeout_seconds": 5,
            "outbox_backoff_seconds": BACKOFF,
            "outbox_max_tries": 3,
            "outbox_lease_seconds": LEASE.total_seconds(),
        }
    )


@pytest.fixture
def db(client: TestClient) -> Database:
    database: Database = client.app.state.db  # type: ignore[attr-defined]
    return database


@pytest.fixture
def sender(db: Database, settings: Settings) -> Sender:
    return Sender.from_settings(db, settings)


def welcome_emails(admin: TestClient, count: int) -> None:
    create_show(admin)
    for n in range(count):
        subscribe(admin, f"listener{n}@example.com", "sharp-tech")


def rows(db: Database) -> list[OutboxMessage]:
    with transaction(db.reader) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def received_ids(smtp: SmtpServer) -> Counter[str]:
    return Counter(str(message["Message-ID"]) for message in smtp.messages())


def message_ids(db: Database) -> set[str]:
    return {f"<{row.idempotency_key}@testserver>" for row in rows(db)}


def test_smtp_down_then_up_loses_nothing_and_retries_on_the_backoff(
    admin: TestClient, db: Database, sender: Sender, smtp: SmtpServer, clock: Clock
) -> None:
    welcome_emails(admin, 3)
    first = clock()
    outcome = sender.send_due(first)  # the server is down
    assert (outcome.sent, outcome.retrying) == (0, 3)
    failed = rows(db)
    for row in failed:
        assert row.status == OutboxStatus.PENDING
        assert row.attempts == 1
        assert "ConnectionRefusedError" in (row.last_error or "")
        # The first retry comes between half and all of the base backoff, jittered.
        wait = row.next_attempt_at - first
        assert timedelta(seconds=BACKOFF / 2) <= wait <= timedelta(seconds=BACKOFF)

    earliest = min(row.next_attempt_at for row in failed)
    assert sender.send_due(earliest - timedelta(seconds=1)).claimed == 0  # none due yet
    second = max(row.next_attempt_at for row in failed)
    assert sender.send_due(second).retrying == 3  # still down
    for row in rows(db):
        assert row.attempts == 2
        wait = row.next_attempt_at - second
        assert timedelta(seconds=BACKOFF) <= wait <= timedelta(seconds=2 * BACKOFF)

    smtp.start()
    third = max(row.next_attempt_at for row in rows(db))
    assert sender.send_due(third).sent == 3
    assert received_ids(smtp) == Counter(message_ids(db))  # every one, once
    assert {row.status for row in rows(db)} == {OutboxStatus.SENT}


def test_dead_after_the_last_try_and_retried_from_the_admin_api(
    admin: TestClient, db: Database, sender: Sender, smtp: SmtpServer, clock: Clock
) -> None:
    welcome_emails(admin, 1)
    now = clock()
    for _ in range(3):  # outbox_max_tries
        sender.send_due(now)
        now = max(row.next_attempt_at for row in rows(db))
    (dead,) = admin.get("/admin/outbox", params={"status": "dead"}).json()
    assert dead["attempts"] == 3
    assert "ConnectionRefusedError" in dead["last_error"]
    assert sender.send_due(now + timedelta(days=1)).claimed == 0  # dead stays dead

    smtp.start()
    retried = admin.post(f"/admin/outbox/{dead['id']}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "pending"
    assert retried.json()["attempts"] == 0
    assert sender.send_due(clock()).sent == 1
    assert len(smtp.messages()) == 1
    again = admin.post(f"/admin/outbox/{dead['id']}/retry")
    assert again.status_code == 409  # sent: nothing to retry
    assert admin.post("/admin/outbox/999999/retry").status_code == 404


def test_a_dead_senders_claims_are_sent_after_their_lease_and_none_more_than_twice(
    admin: TestClient, db: Database, sender: Sender, smtp: SmtpServer, clock: Clock
) -> None:
    welcome_emails(admin, 5)
    smtp.start()
    now = clock()
    # A sender claims the whole batch, delivers three, records two, and is killed.
    with transaction(db.writer) as session:
        claimed = service.claim(
            session, now, kinds=[OutboxKind.EMAIL], limit=5, lease=LEASE, max_tries=3
        )
    assert len(claimed) == 5
    for message in claimed[:3]:
        sender.transports[OutboxKind.EMAIL].deliver(message, now)
    for message in claimed[:2]:
        with transaction(db.writer) as session:
            assert service.record_sent(session, message, now)

    assert sender.send_due(now + LEASE - timedelta(seconds=1)).claimed == 0  # still held
    assert sender.send_due(now + LEASE).sent == 3
    received = received_ids(smtp)
    assert set(received) == message_ids(db)  # every message delivered
    assert sorted(received.values()) == [1, 1, 1, 1, 2]  # the one in flight, twice
    # The dead sender's late word changes nothing: the message is someone else's now.
    with transaction(db.writer) as session:
        assert not service.record_sent(session, claimed[2], now + LEASE * 2)
    assert {(row.status, row.attempts) for row in rows(db)[2:]} == {(OutboxStatus.SENT, 2)}


def test_a_claim_that_runs_out_on_the_last_try_is_dead(
    admin: TestClient, db: Database, sender: Sender, clock: Clock
) -> None:
    welcome_emails(admin, 1)
    with transaction(db.writer) as session:
        (row,) = session.scalars(select(OutboxMessage)).all()
        row.attempts = 2  # two tries failed already
    now = clock()
    with transaction(db.writer) as session:
        service.claim(session, now, kinds=[OutboxKind.EMAIL], limit=5, lease=LEASE, max_tries=3)
    assert sender.send_due(now + LEASE).claimed == 0
    (dead,) = rows(db)
    assert dead.status == OutboxStatus.DEAD
    assert dead.last_error == service.LEASE_EXPIRED


def test_senders_at_once_never_send_a_message_twice(
    admin: TestClient, db: Database, settings: Settings, smtp: SmtpServer, clock: Clock
) -> None:
    welcome_emails(admin, 30)
    smtp.start()
    now = clock()
    senders = [
        Sender.from_settings(db, settings.model_copy(update={"outbox_batch": 4})) for _ in range(4)
    ]
    failures: list[BaseException] = []

    def drain(one: Sender) -> None:
        try:
            while one.send_due(now).claimed:
                pass
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=drain, args=(one,)) for one in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    received = received_ids(smtp)
    assert set(received) == message_ids(db)
    assert set(received.values()) == {1}
    assert {(row.status, row.attempts) for row in rows(db)} == {(OutboxStatus.SENT, 1)}


@pytest.fixture
def failing_event_updates(settings: Settings) -> Iterator[None]:
    """Billing events fail at their last write, after the subscriber and their welcome."""
    engine = build_engine(settings.database_url)
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        if postgres:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE UPDATE ON webhook_events "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE UPDATE ON webhook_events "
                    "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
    yield
    with engine.begin() as connection:
        connection.execute(text("DROP TRIGGER refuse" + (" ON webhook_events" if postgres else "")))
        if postgres:
            connection.execute(text("DROP FUNCTION refuse()"))
    engine.dispose()


@pytest.mark.usefixtures("failing_event_updates")
def test_a_change_that_fails_leaves_no_message(admin: TestClient, db: Database) -> None:
    create_show(admin)
    admin.put("/admin/plans/tech", json={"name": "Sharp Tech", "shows": ["sharp-tech"]})
    response = send(admin, event("created", int(time.time()), plan="tech"))
    assert response.status_code == 500
    assert admin.get("/admin/subscribers").json() == []
    assert rows(db) == []


def test_the_outbox_api_needs_the_admin_key(client: TestClient) -> None:
    assert client.get("/admin/outbox").status_code == 401
    assert client.post("/admin/outbox/1/retry").status_code == 401


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """For the worker process: it runs on real time, so the test waits for it."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def test_the_app_sends_its_own_outbox_while_it_runs(
    admin: TestClient, settings: Settings, smtp: SmtpServer, clock: Clock
) -> None:
    """The embedded default: no `podpass worker`; the app's background jobs send the outbox,
    the first time as they start."""
    smtp.start()
    welcome_emails(admin, 1)  # queued by an app that does not send
    embedded = settings.model_copy(update={"outbox_in_app": True})
    with TestClient(create_app(embedded, clock)) as app:
        jobs = app.app.state.jobs  # type: ignore[attr-defined]
        assert "outbox" in {job.name for job in jobs.jobs}
        assert jobs.running
        wait_until(lambda: len(smtp.messages()) == 1, "the jobs thread sent the welcome")
    assert not jobs.running
    without = settings.model_copy(update={"outbox_in_app": False})
    with TestClient(create_app(without, clock)) as app:
        assert "outbox" not in {job.name for job in app.app.state.jobs.jobs}  # type: ignore[attr-defined]


def test_a_worker_killed_mid_batch_loses_nothing_and_sends_none_more_than_twice(
    admin: TestClient, db: Database, settings: Settings, smtp: SmtpServer
) -> None:
    welcome_emails(admin, 12)
    env = server_env(settings) | {
        "PODPASS_BASE_URL": "http://testserver",
        "PODPASS_SMTP_HOST": "127.0.0.1",
        "PODPASS_SMTP_PORT": str(smtp.port),
        "PODPASS_SMTP_SECURITY": "none",
        "PODPASS_SMTP_TIMEOUT_SECONDS": "120",  # it hangs on the stalled server until killed
        "PODPASS_OUTBOX_BATCH": "5",
        "PODPASS_OUTBOX_LEASE_SECONDS": "2",
        "PODPASS_OUTBOX_POLL_SECONDS": "0.1",
    }
    worker = [str(BIN / "podpass"), "worker"]
    smtp.start(stall_after=3)  # takes three, then keeps the fourth without answering
    first = subprocess.Popen(worker, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: len(smtp.messages()) == 4, "the fourth message is in flight")
    finally:
        first.kill()  # SIGKILL: no cleanup, its claims stay `sending`
        first.wait(timeout=10)
    statuses = Counter(row.status for row in rows(db))
    assert statuses == {OutboxStatus.SENT: 3, OutboxStatus.SENDING: 2, OutboxStatus.PENDING: 7}

    smtp.stop()
    smtp.start()  # the server recovers
    second = subprocess.Popen(worker, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: {row.status for row in rows(db)} == {OutboxStatus.SENT}, "all are sent")
    finally:
        second.terminate()
        second.wait(timeout=10)
    received = received_ids(smtp)
    assert set(received) == message_ids(db)  # every message delivered
    assert sorted(received.values()) == [1] * 11 + [2]  # the one in flight, twice
