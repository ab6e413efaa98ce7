"""The outbox sender: claim what is due, deliver it outside the claim's transaction, then
record each outcome. It is one of the background jobs (app/jobs.py): in the app's process on
the embedded default, in `podpass worker` in production."""

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from app.billing import service as billing
from app.config import Settings
from app.db import Database, transaction
from app.mail import MailFailed, MailRefused, Smtp
from app.models import OutboxKind
from app.outbox import http_post, service, webhooks
from app.outbox.emails import Emails
from app.outbox.service import Claimed, NotDue, NotSendable
from app.tokens import PageLinks
from app.urls import Urls

logger = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Transport(Protocol):
    def deliver(self, message: Claimed, now: datetime) -> None:
        """Deliver one message, or raise DeliveryFailed, NotSendable or NotDue."""


@dataclass(frozen=True)
class EmailTransport:
    emails: Emails
    mailer: Smtp

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
    # The signature's time is checked against the receiver's clock: always the real one.
    wall_clock: Callable[[], float] = time.time

    def deliver(self, message: Claimed, now: datetime) -> None:
        with transaction(self.db.reader) as session:
            url, secret, body = webhooks.delivery(session, message.payload, self.secret_key, now)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Podpass-Webhooks/1",
            billing.SIGNATURE_HEADER: billing.sign(secret, int(self.wall_clock()), body),
            webhooks.DELIVERY_HEADER: message.idempotency_key,
            webhooks.EVENT_HEADER: message.payload["type"],
        }
        answer = http_post.post(url, body, headers, timeout=self.timeout)
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
            # Every failure is worth another try: a 4xx is as likely a receiver being
            # deployed as a refusal, and the tries are few and spaced out.
            reason = answer.error or f"HTTP {answer.status}: {answer.body[:200]}"
            raise DeliveryFailed(reason, permanent=False)


@dataclass(frozen=True)
class Outcome:
    sent: int = 0
    retrying: int = 0
    dead: int = 0

    @property
    def claimed(self) -> int:
        return self.sent + self.retrying + self.dead


class Sender:
    def __init__(
        self,
        db: Database,
        transports: Mapping[OutboxKind, Transport],
        *,
        batch: int,
        lease: timedelta,
        max_tries: int,
        backoff_seconds: float,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.db = db
        self.transports = transports
        self.batch = batch
        self.lease = lease
        self.max_tries = max_tries
        self.backoff_seconds = backoff_seconds
        self.jitter = jitter

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> "Sender":
        transports: dict[OutboxKind, Transport] = {
            OutboxKind.WEBHOOK: WebhookTransport(
                db, settings.secret_key, settings.webhook_timeout_seconds
            )
        }
        if settings.smtp_host:
            links = PageLinks(settings.secret_key, max_age_seconds=settings.page_link_days * 86400)
            emails = Emails(db, settings, Urls(settings.public_base_url), links)
            transports[OutboxKind.EMAIL] = EmailTransport(emails, Smtp.from_settings(settings))
        else:
            logger.warning(
                "PODPASS_SMTP_HOST is not set: emails are kept in the outbox, undelivered "
                "(GET /admin/outbox?status=pending lists them), and go out once it is set"
            )
        return cls(
            db,
            transports,
            batch=settings.outbox_batch,
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            max_tries=settings.outbox_max_tries,
            backoff_seconds=settings.outbox_backoff_seconds,
        )

    def send_due(self, now: datetime) -> Outcome:
        """One pass: claim up to a batch of due messages and try each once."""
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
        sent = retrying = dead = 0
        for message in claimed:
            try:
                self.transports[message.kind].deliver(message, now)
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
        return Outcome(sent, retrying, dead)

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
        """Send what is due: a full batch goes straight on to the next one. A background job
        (app/jobs.py) runs it, in the app's process or in `podpass worker`."""
        while True:
            outcome = self.send_due(now)
            if outcome.claimed:
                logger.info(
                    "outbox: %d sent, %d to retry, %d dead",
                    outcome.sent,
                    outcome.retrying,
                    outcome.dead,
                )
            if outcome.claimed < self.batch:
                return
