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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from app.core.config import Settings, SmtpSecurity
from app.core.db.engine import Database
from app.core.db.session import transaction
from app.jobs import Runner, email_composers, podpass_jobs
from app.main import create_app
from app.models import OutboxKind, OutboxMessage, OutboxStatus
from app.outbox import service
from app.outbox.sender import Sender, Transport
from tests.conftest import Clock, create_show, refused_writes, server_env, subscribe
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


def new_sender(client: TestClient, settings: Settings, clock: Clock) -> Sender:
    links = client.app.state.page_links  # type: ignore[attr-defined]
    database = client.app.state.db  # type: ignore[attr-defined]
    return Sender.from_settings(
        database, settings, clock, composers=email_composers(settings, links)
    )


@pytest.fixture
def sender(client: TestClient, settings: Settings, clock: Clock) -> Sender:
    return new_sender(client, settings, clock)


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
    batches_of_four = settings.model_copy(update={"outbox_batch": 4})
    senders = [new_sender(admin, batches_of_four, clock) for _ in range(4)]
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
    assert not any(thread.is_alive() for thread in threads), "a sender is still sending"
    assert failures == []
    received = received_ids(smtp)
    assert set(received) == message_ids(db)
    assert set(received.values()) == {1}
    assert {(row.status, row.attempts) for row in rows(db)} == {(OutboxStatus.SENT, 1)}


@dataclass
class TakingMinutes:
    """The real email transport, on a clock that moves on by `each` with every delivery,
    while another sender polls: a backlog that outlasts a lease, without waiting for it."""

    real: Transport
    clock: Clock
    each: timedelta
    db: Database
    other: Sender | None = None
    late: list[int] = field(default_factory=list)  # delivered after their claim ran out

    @property
    def timeout(self) -> float:
        return self.real.timeout

    def deliver(self, message: service.Claimed, now: datetime) -> None:
        with transaction(self.db.reader) as session:
            claimed_until = session.get_one(OutboxMessage, message.id).next_attempt_at
        self.real.deliver(message, now)
        self.clock.advance(self.each)
        if self.clock() > claimed_until:
            self.late.append(message.id)
        if self.other is not None:
            self.other.send_due(self.clock())


def test_a_backlog_that_outlasts_the_lease_is_sent_once_by_two_senders(
    admin: TestClient, db: Database, settings: Settings, smtp: SmtpServer, clock: Clock
) -> None:
    """Each of the first sender's deliveries takes 90 s of a 5-minute lease (two 60 s
    timeouts are kept back) while the second sender polls: the first gives back what its
    claim has no time left for, claims again at the clock's time, and no message goes out
    twice or after its claim ran out."""
    welcome_emails(admin, 12)
    smtp.start()
    slow = settings.model_copy(update={"outbox_batch": 4, "smtp_timeout_seconds": 60})
    first, second = new_sender(admin, slow, clock), new_sender(admin, slow, clock)
    minutes = TakingMinutes(first.transports[OutboxKind.EMAIL], clock, timedelta(seconds=90), db)
    minutes.other = second
    first.transports = {OutboxKind.EMAIL: minutes}

    first.drain(clock())

    received = received_ids(smtp)
    assert set(received) == message_ids(db)
    assert set(received.values()) == {1}, "a message went out twice"
    assert minutes.late == []
    assert {(row.status, row.attempts) for row in rows(db)} == {(OutboxStatus.SENT, 1)}


def test_a_drain_claims_each_batch_at_the_time_it_starts(
    admin: TestClient, db: Database, settings: Settings, smtp: SmtpServer, clock: Clock
) -> None:
    """Alone, with deliveries that take 2 minutes each: three batches of two, each claimed
    for five minutes from when it starts, not from when the drain began."""
    welcome_emails(admin, 6)
    smtp.start()
    two_at_a_time = settings.model_copy(update={"outbox_batch": 2, "smtp_timeout_seconds": 30})
    sender = new_sender(admin, two_at_a_time, clock)
    minutes = TakingMinutes(sender.transports[OutboxKind.EMAIL], clock, timedelta(minutes=2), db)
    sender.transports = {OutboxKind.EMAIL: minutes}

    sender.drain(clock())

    assert minutes.late == []
    assert set(received_ids(smtp).values()) == {1}
    assert {row.status for row in rows(db)} == {OutboxStatus.SENT}


@dataclass
class StopsTheRunner:
    """The real transport; the runner is told to stop during the second delivery."""

    real: Transport
    runner: Runner | None = None
    delivered: int = 0

    @property
    def timeout(self) -> float:
        return self.real.timeout

    def deliver(self, message: service.Claimed, now: datetime) -> None:
        self.delivered += 1
        if self.delivered == 2 and self.runner is not None:
            self.runner.stop()
        self.real.deliver(message, now)


def test_a_stopping_sender_ends_between_messages_and_gives_the_rest_back(
    admin: TestClient, db: Database, settings: Settings, smtp: SmtpServer, clock: Clock
) -> None:
    welcome_emails(admin, 5)
    smtp.start()
    stopping = threading.Event()
    links = admin.app.state.page_links  # type: ignore[attr-defined]
    one_batch = settings.model_copy(update={"outbox_batch": 5})
    sender = Sender.from_settings(
        db, one_batch, clock, composers=email_composers(one_batch, links), stopping=stopping
    )
    stops = StopsTheRunner(sender.transports[OutboxKind.EMAIL])
    sender.transports = {OutboxKind.EMAIL: stops}
    stops.runner = Runner(podpass_jobs(db, one_batch, sender=sender), clock, stopping=stopping)

    stops.runner.run_once()

    assert len(smtp.messages()) == 2  # the one in hand when it was told to stop, finished
    statuses = Counter((row.status, row.attempts) for row in rows(db))
    # The rest are due at once, untried, for the next sender (no lease to wait out).
    assert statuses == {(OutboxStatus.SENT, 1): 2, (OutboxStatus.PENDING, 0): 3}
    waiting = [row for row in rows(db) if row.status == OutboxStatus.PENDING]
    assert max(row.next_attempt_at for row in waiting) <= clock()


def test_a_lease_too_short_for_a_delivery_is_refused(settings: Settings) -> None:
    values = settings.model_dump() | {"smtp_timeout_seconds": 30, "outbox_lease_seconds": 100}
    with pytest.raises(ValidationError, match="PODPASS_OUTBOX_LEASE_SECONDS"):
        Settings(**values)


@pytest.fixture
def failing_event_updates(settings: Settings) -> Iterator[None]:
    """Billing events fail at their last write, after the subscriber and their welcome."""
    with refused_writes(settings.database_url, "webhook_events", on="UPDATE"):
        yield


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
    admin: TestClient, db: Database, settings: Settings, smtp: SmtpServer, tmp_path: Path
) -> None:
    welcome_emails(admin, 12)
    env = server_env(settings) | {
        "PODPASS_BASE_URL": "http://testserver",
        "PODPASS_SMTP_HOST": "127.0.0.1",
        "PODPASS_SMTP_PORT": str(smtp.port),
        "PODPASS_SMTP_SECURITY": "none",
        # It hangs on the stalled server until killed; the lease is the least that allows.
        "PODPASS_SMTP_TIMEOUT_SECONDS": "2",
        "PODPASS_WEBHOOK_TIMEOUT_SECONDS": "2",
        "PODPASS_OUTBOX_LEASE_SECONDS": "8",
        "PODPASS_OUTBOX_BATCH": "5",
        "PODPASS_OUTBOX_POLL_SECONDS": "0.1",
    }
    worker = [str(BIN / "podpass"), "worker"]
    logs = {name: tmp_path / f"{name}.log" for name in ("first", "second")}

    def said(name: str) -> str:
        return f"\n{name} worker's log:\n{logs[name].read_text()}"

    def start(name: str) -> "subprocess.Popen[bytes]":
        with logs[name].open("wb") as log:
            return subprocess.Popen(worker, env=env, stdout=log, stderr=subprocess.STDOUT)

    smtp.start(stall_after=3)  # takes three, then keeps the fourth without answering
    first = start("first")
    try:
        wait_until(lambda: len(smtp.messages()) == 4, "the fourth message is in flight")
    finally:
        first.kill()  # SIGKILL: no cleanup, its claims stay `sending`
        first.wait(timeout=10)
    statuses = Counter(row.status for row in rows(db))
    expected = {OutboxStatus.SENT: 3, OutboxStatus.SENDING: 2, OutboxStatus.PENDING: 7}
    assert statuses == expected, said("first")

    smtp.stop()
    smtp.start()  # the server recovers
    second = start("second")
    try:
        wait_until(lambda: {row.status for row in rows(db)} == {OutboxStatus.SENT}, "all are sent")
    except AssertionError as exc:
        raise AssertionError(f"{exc}{said('second')}") from None
    finally:
        second.terminate()
        second.wait(timeout=10)
    received = received_ids(smtp)
    assert set(received) == message_ids(db), said("second")  # every message delivered
    # The one in flight, twice.
    assert sorted(received.values()) == [1] * 11 + [2], said("first") + said("second")
