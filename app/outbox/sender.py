"""The outbox sender: claim what is due, deliver it outside the claim's transaction, then
record each outcome. It is one of the background jobs (app/jobs.py): in the app's process on
the embedded default, in `podpass worker` in production."""

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from app.core.clock import Clock
from app.core.config import Settings
from app.core.db.engine import Database
from app.core.db.session import transaction
from app.core.tokens import SIGNATURE_HEADER, sign
from app.models import OutboxKind
from app.outbox import http_post, service, webhooks
from app.outbox.emails import Composer, Emails
from app.outbox.mail import MailFailed, MailRefused, Smtp
from app.outbox.schemas import EmailTemplate
from app.outbox.service import Claimed, NotDue, NotSendable

logger = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Transport(Protocol):
    @property
    def timeout(self) -> float:
        """Seconds: how long one of its network steps may wait."""

    def deliver(self, message: Claimed, now: datetime) -> None:
        """Deliver one message, or raise DeliveryFailed, NotSendable or NotDue."""


# A delivery starts only while its claim has this many of its transport's timeouts left: a
# slow connection, then a slow answer. Past its lease another sender may send it again.
TIMEOUTS_KEPT = 2


@dataclass(frozen=True)
class EmailTransport:
    emails: Emails
    mailer: Smtp

    @property
    def timeout(self) -> float:
        return self.mailer.timeout

    def deliver(self, message: Claimed, now: datetime) -> None:
        try:
            self.mailer.send(self.emails.compose(message, now))
        except MailFailed as exc:
            raise DeliveryFailed(str(exc), permanent=isinstance(exc, MailRefused)) from None


@dataclass(frozen=True)
class WebhookTransport:
    """POSTs a delivery, signed the way billing webhooks are signed (app/billing/), and
    keeps each try's answer, which the admin API shows."""

    db: Database
    secret_key: str
    timeout: float
    allow_private: bool  # PODPASS_WEBHOOK_ALLOW_PRIVATE
    # The signature's time is checked against the receiver's clock: always the real one.
    wall_clock: Callable[[], float] = time.time

    def deliver(self, message: Claimed, now: datetime) -> None:
        with transaction(self.db.reader) as session:
            url, secret, body = webhooks.delivery(session, message.payload, self.secret_key, now)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Podpass-Webhooks/1",
            SIGNATURE_HEADER: sign(secret, int(self.wall_clock()), body),
            webhooks.DELIVERY_HEADER: message.idempotency_key,
            webhooks.EVENT_HEADER: message.payload["type"],
        }
        answer = http_post.post(
            url, body, headers, timeout=self.timeout, allow_private=self.allow_private
        )
        with transaction(self.db.writer) as session:
            webhooks.record_attempt(
                session,
                message.id,
                message.attempt,
                now,
                status_code=answer.status,
                excerpt=answer.body,
                error=answer.error,
            )
        if not answer.ok:
            # Every answer is worth another try: a 4xx is as likely a receiver being
            # deployed as a refusal, and the tries are few and spaced out. An address
            # webhooks may not reach is not: the delivery is dead at once.
            reason = answer.error or f"HTTP {answer.status}: {answer.body[:200]}"
            raise DeliveryFailed(reason, permanent=answer.permanent)


@dataclass(frozen=True)
class Outcome:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    released: int = 0  # given back untried (stopping, or the claim running short)

    @property
    def claimed(self) -> int:
        return self.sent + self.retrying + self.dead + self.released


@dataclass(eq=False)  # one sender per runner: compared by identity
class Sender:
    db: Database
    transports: Mapping[OutboxKind, Transport]
    clock: Clock
    _: KW_ONLY
    batch: int
    lease: timedelta
    max_tries: int
    backoff_seconds: float
    # Set when its runner stops (app/jobs.py): a drain ends between two messages.
    stopping: threading.Event = field(default_factory=threading.Event)
    jitter: Callable[[], float] = random.random

    @classmethod
    def from_settings(
        cls,
        db: Database,
        settings: Settings,
        clock: Clock,
        *,
        composers: Mapping[EmailTemplate, Composer],
        stopping: threading.Event | None = None,
    ) -> "Sender":
        transports: dict[OutboxKind, Transport] = {
            OutboxKind.WEBHOOK: WebhookTransport(
                db,
                settings.secret_key,
                settings.webhook_timeout_seconds,
                allow_private=settings.webhook_allow_private,
            )
        }
        if settings.smtp_host:
            emails = Emails(db, settings, composers)
            transports[OutboxKind.EMAIL] = EmailTransport(emails, Smtp.from_settings(settings))
        else:
            logger.warning(
                "PODPASS_SMTP_HOST is not set: emails are kept in the outbox, undelivered "
                "(GET /admin/outbox?status=pending lists them), and go out once it is set"
            )
        return cls(
            db,
            transports,
            clock,
            batch=settings.outbox_batch,
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            max_tries=settings.outbox_max_tries,
            backoff_seconds=settings.outbox_backoff_seconds,
            stopping=stopping or threading.Event(),
        )

    def send_due(self, now: datetime) -> Outcome:
        """One pass: claim up to a batch of messages due at `now` and try each once, while
        the claim has time left for it (as the clock moves on from `now`); the others are
        given back, due at once."""
        with transaction(self.db.reader) as session:
            if not service.any_due(session, now, kinds=self.transports.keys()):
                return Outcome()
        with transaction(self.db.writer) as session:
            claimed = service.claim(
                session,
                now,
                kinds=self.transports.keys(),
                limit=self.batch,
                lease=self.lease,
                max_tries=self.max_tries,
            )
        claimed_at, started = now, self.clock()
        sent = retrying = dead = released = 0
        for message in claimed:
            # `now` moved on by the time this pass has taken so far.
            now = claimed_at + max(self.clock() - started, timedelta())
            transport = self.transports[message.kind]
            room = timedelta(seconds=TIMEOUTS_KEPT * transport.timeout)
            if self.stopping.is_set() or now + room >= claimed_at + self.lease:
                with transaction(self.db.writer) as session:
                    service.release(session, message, now)
                released += 1
                continue
            try:
                transport.deliver(message, now)
            except DeliveryFailed as exc:
                retry_in = self._retry_in(message, permanent=exc.permanent)
                self._record_failure(message, str(exc), now, retry_in)
            except NotSendable as exc:
                retry_in = None
                self._record_failure(message, str(exc), now, retry_in)
            except NotDue as exc:
                retry_in = max(exc.at - now, timedelta(seconds=1))
                self._record_failure(message, f"{exc}: due at {exc.at.isoformat()}", now, retry_in)
            except Exception as exc:
                # A bug or an outage in composing one message must not stop the others.
                logger.exception("outbox message %d: unexpected failure", message.id)
                retry_in = self._retry_in(message, permanent=False)
                self._record_failure(message, f"{type(exc).__name__}: {exc}", now, retry_in)
            else:
                with transaction(self.db.writer) as session:
                    service.record_sent(session, message, now)
                sent += 1
                continue
            if retry_in is None:
                dead += 1
            else:
                retrying += 1
        return Outcome(sent, retrying, dead, released)

    def _retry_in(self, message: Claimed, *, permanent: bool) -> timedelta | None:
        if permanent or message.attempt >= self.max_tries:
            return None
        return service.backoff(message.attempt, self.backoff_seconds, self.jitter)

    def _record_failure(
        self, message: Claimed, error: str, now: datetime, retry_in: timedelta | None
    ) -> None:
        if retry_in is None:
            logger.error(
                "outbox message %d is dead after %d tries: %s", message.id, message.attempt, error
            )
        else:
            logger.warning(
                "outbox message %d, try %d failed (next in %.0f s): %s",
                message.id,
                message.attempt,
                retry_in.total_seconds(),
                error,
            )
        with transaction(self.db.writer) as session:
            service.record_failure(session, message, error, now, retry_in=retry_in)

    def drain(self, now: datetime) -> None:
        """Send what is due: a full batch goes straight on to the next one, claimed at the
        clock's time then, until the sender is stopping. A background job (app/jobs.py)
        runs it, in the app's process or in `podpass worker`."""
        while not self.stopping.is_set():
            outcome = self.send_due(now)
            if outcome.claimed:
                logger.info(
                    "outbox: %d sent, %d to retry, %d dead, %d given back",
                    outcome.sent,
                    outcome.retrying,
                    outcome.dead,
                    outcome.released,
                )
            if outcome.claimed < self.batch:
                return
            now = self.clock()
