"""Periodic work inside the server, so that one process (`make run`) needs no cron: the
analytics rollup, sharing detection, the purge of old raw events, and the outbox sender.
`podpass worker` runs the same jobs in a process of their own.

A `Runner` is a daemon thread that sleeps until the next job is due (`threading.Event.wait`,
so stopping it is immediate) and runs each due job in turn. A job is a name, an interval and
a function of "now" (from the injected clock). A failing job is logged and counted, and runs
again at its next turn: nothing a job raises stops the thread. Each worker process runs its
own Runner; `in_turn` makes a job safe to start in several at once. The outbox sender
takes care of that itself (its claims skip what another sender holds).
"""

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.analytics import service as analytics
from app.audit import service as audit
from app.billing import service as billing
from app.console.emails import StaffEmails
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db.engine import Database
from app.core.db.session import transaction
from app.core.tokens import PageLinks
from app.core.urls import Urls
from app.outbox.emails import Composer
from app.outbox.schemas import EmailTemplate
from app.outbox.sender import Sender
from app.sharing import service as sharing
from app.sharing.emails import AlertEmails
from app.subscribers.emails import SubscriberEmails

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    run: Callable[[datetime], None]  # given "now"; raises to say it failed
    at_start: bool = False  # first run at start, not one interval later


@dataclass
class JobState:
    due: datetime
    last_run: datetime | None = None  # when it last ran (here, or in another worker)
    failures: int = 0


class Runner:
    def __init__(
        self, jobs: Sequence[Job], clock: Clock, *, stopping: threading.Event | None = None
    ) -> None:
        self.jobs = jobs
        self.clock = clock
        now = clock()
        # Most first runs are one interval after start: a restart does not repeat the work.
        self.states = {
            job.name: JobState(due=now if job.at_start else now + job.every) for job in jobs
        }
        # Shared with a job that checks it as it goes (the outbox sender), so stopping the
        # runner also ends that job's run early.
        self._stopping = stopping or threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        """Run every job now, whether due or not."""
        for job in self.jobs:
            self._run(job)

    def run_due(self) -> None:
        for job in self.jobs:
            if self.states[job.name].due <= self.clock():
                self._run(job)

    def _run(self, job: Job) -> None:
        state = self.states[job.name]
        now = self.clock()
        state.due = now + job.every
        try:
            job.run(now)
        except Exception:
            state.failures += 1
            logger.exception("Background job %s failed (%d failures)", job.name, state.failures)
        else:
            state.last_run = now

    def seconds_to_next(self) -> float | None:
        """How long until a job is due; None (wait until stopped) with no jobs."""
        next_due = min((state.due for state in self.states.values()), default=None)
        if next_due is None:
            return None
        return max(0.0, (next_due - self.clock()).total_seconds())

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="podpass-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, after the job it is running (if any) has finished or, for the
        outbox, after the message in hand."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stopping.wait(self.seconds_to_next()):
            self.run_due()

    def health(self) -> dict[str, str | int]:
        """Each job's last run (ISO 8601; "" before the first) and failures, for /healthz."""
        found: dict[str, str | int] = {}
        for name, state in self.states.items():
            found[f"job_{name}_last_run"] = state.last_run.isoformat() if state.last_run else ""
            found[f"job_{name}_failures"] = state.failures
        return found


def advisory_lock_key(name: str) -> int:
    """A job's PostgreSQL advisory lock: 64 bits of its name's hash."""
    return int.from_bytes(hashlib.sha256(f"podpass job {name}".encode()).digest()[:8], signed=True)


def in_turn(
    db: Database, name: str, work: Callable[[Session, datetime], object]
) -> Callable[[datetime], None]:
    """`work` as a job: in its own write transaction, and in one worker at a time. On
    PostgreSQL a worker that finds the job running elsewhere (its advisory lock taken) skips
    it this time: the other's run is this one's. On SQLite, write transactions already take
    turns (BEGIN IMMEDIATE), so a second worker runs it again after the first, which the
    jobs allow (each rebuilds or re-checks, never adds up)."""

    def run(now: datetime) -> None:
        with transaction(db.writer) as session:
            if session.get_bind().dialect.name == "postgresql":
                locked = func.pg_try_advisory_xact_lock(advisory_lock_key(name))
                if not session.scalar(select(locked)):
                    logger.info("Background job %s is running in another worker", name)
                    return
            audit.act_as(session, audit.SYSTEM, lambda: now)
            work(session, now)

    return run


def rollup(session: Session, now: datetime) -> None:
    """Count yesterday's downloads again (its last requests came after the last run) and
    today's so far."""
    today = now.astimezone(UTC).date()
    for day in (today - timedelta(days=1), today):
        analytics.rollup(session, day)


def detect_sharing(session: Session, now: datetime, *, settings: Settings) -> None:
    sharing.detect(session, now=now, settings=settings)


def purge(session: Session, now: datetime, *, retention_days: int) -> None:
    analytics.purge(session, now, retention_days)
    billing.forget_kept(session, now, retention_days)  # the emails they hold, too


def podpass_jobs(db: Database, settings: Settings, *, sender: Sender | None) -> list[Job]:
    """The server's jobs, in the order a pass runs them: detection reads the rollup's
    downloads. With a `sender`, the outbox is sent too, from start and every few seconds."""
    every = timedelta(seconds=settings.jobs_interval_seconds)
    work: list[tuple[str, Callable[[Session, datetime], object]]] = [
        ("rollup", rollup),
        ("sharing", partial(detect_sharing, settings=settings)),
        ("purge", partial(purge, retention_days=settings.event_retention_days)),
        ("past_due", partial(billing.lapse_past_due, grace_days=settings.past_due_grace_days)),
    ]
    jobs = [Job(name, every, in_turn(db, name, job)) for name, job in work]
    if sender is not None and sender.transports:
        poll = timedelta(seconds=settings.outbox_poll_seconds)
        jobs.append(Job("outbox", poll, sender.drain, at_start=True))
    return jobs


def email_composers(settings: Settings, links: PageLinks) -> dict[EmailTemplate, Composer]:
    """What each email says, composed by the domain it belongs to, for the outbox's sender."""
    urls = Urls(settings.public_base_url)
    alerts = AlertEmails(settings, urls)
    staff = StaffEmails(settings, urls)
    return SubscriberEmails(settings, urls, links).composers() | {
        EmailTemplate.SHARING_ALERT: alerts.compose,
        EmailTemplate.PASSWORD_RESET: staff.password_reset,
    }


def podpass_runner(
    db: Database, settings: Settings, clock: Clock, *, links: PageLinks, outbox: bool
) -> Runner:
    """The server's jobs in one runner; with `outbox`, the outbox sender is one of them, and
    stops between two messages when the runner stops."""
    stopping = threading.Event()
    sender = (
        Sender.from_settings(
            db, settings, clock, composers=email_composers(settings, links), stopping=stopping
        )
        if outbox
        else None
    )
    return Runner(podpass_jobs(db, settings, sender=sender), clock, stopping=stopping)
