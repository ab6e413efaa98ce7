"""The outbox: messages written in the transaction of the change that causes them, then
claimed, delivered and settled by a sender (app/outbox/sender.py), at least once."""

import hashlib
import hmac
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, delete, func, insert, select, update
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.service import Action
from app.core.db.session import get_by_id
from app.core.errors import Conflict
from app.models import LinkRequest, OutboxKind, OutboxMessage, OutboxStatus
from app.outbox.schemas import EmailTemplate

LINK_REQUEST_WINDOW = timedelta(hours=1)
LEASE_EXPIRED = "the sender stopped during its last try (its claim ran out)"


class NotSendable(Exception):
    """The message no longer makes sense to send (its subscriber was revoked meanwhile, its
    episode unpublished, its endpoint deleted)."""


class NotDue(Exception):
    """Not yet: what it announces was put off (an episode rescheduled) until `at`."""

    def __init__(self, reason: str, at: datetime) -> None:
        super().__init__(reason)
        self.at = at


@dataclass(frozen=True)
class Claimed:
    """A message a sender holds until its lease ends, as it was when claimed."""

    id: int
    kind: OutboxKind
    idempotency_key: str
    payload: dict[str, Any]
    attempt: int  # 1 for the first try; settling checks it, so a stale sender changes nothing


def _row(
    kind: OutboxKind, payload: dict[str, Any], now: datetime, due: datetime | None
) -> dict[str, Any]:
    return {
        "kind": kind,
        "idempotency_key": uuid.uuid4().hex,
        "payload": payload,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": max(now, due) if due else now,
        "created_at": now,
    }


def enqueue(
    session: Session,
    kind: OutboxKind,
    payload: dict[str, Any],
    *,
    now: datetime,
    due: datetime | None = None,
) -> OutboxMessage:
    """Add a message to the caller's transaction: it is sent only if that commits, and not
    before `due` (a scheduled episode's announcement waits for the episode)."""
    message = OutboxMessage(**_row(kind, payload, now, due))
    session.add(message)
    session.flush()
    return message


def enqueue_many(
    session: Session,
    kind: OutboxKind,
    payloads: Iterable[dict[str, Any]],
    *,
    now: datetime,
    due: datetime,
) -> int:
    """Many messages in one executemany INSERT (an episode's note to every subscriber who
    asked for one), without building an ORM object for each."""
    rows = [_row(kind, payload, now, due) for payload in payloads]
    if rows:
        session.execute(insert(OutboxMessage), rows)
    return len(rows)


def email_payload(
    template: EmailTemplate, *, subscriber_id: int, to: str, **facts: Any
) -> dict[str, Any]:
    if template.to_publisher:
        raise ValueError(f"{template} goes to the publisher, not to subscriber {subscriber_id}")
    return {"template": template.value, "subscriber_id": subscriber_id, "to": to} | facts


def email(
    session: Session,
    template: EmailTemplate,
    *,
    subscriber_id: int,
    to: str,
    now: datetime,
    **facts: Any,
) -> OutboxMessage:
    """An email to a subscriber. Only facts go in; it is rendered when sent, with the
    publisher's current settings, address and a page link that starts its life then (`to`
    is the address at queueing, kept for the admin API)."""
    payload = email_payload(template, subscriber_id=subscriber_id, to=to, **facts)
    return enqueue(session, OutboxKind.EMAIL, payload, now=now)


def sharing_alert_email(
    session: Session, alert_id: int, *, to: str, now: datetime
) -> OutboxMessage:
    """The publisher's email about a sharing alert that just opened, rendered when sent and
    addressed to PODPASS_ALERTS_EMAIL as it is then (`to`: at queueing, for the admin API)."""
    payload = {"template": EmailTemplate.SHARING_ALERT.value, "to": to, "alert_id": alert_id}
    return enqueue(session, OutboxKind.EMAIL, payload, now=now)


def password_reset_email(
    session: Session, user_id: int, *, to: str, now: datetime
) -> OutboxMessage:
    """A staff member's forgotten-password email. Its link is signed as it goes out (it
    expires from then), to the account's address as it is then (`to`: at queueing)."""
    payload = {"template": EmailTemplate.PASSWORD_RESET.value, "to": to, "user_id": user_id}
    return enqueue(session, OutboxKind.EMAIL, payload, now=now)


def _due(now: datetime, kinds: Collection[OutboxKind]) -> Select[OutboxMessage]:
    return select(OutboxMessage).where(
        OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
        OutboxMessage.next_attempt_at <= now,
        OutboxMessage.kind.in_(list(kinds)),
    )


def any_due(session: Session, now: datetime, *, kinds: Collection[OutboxKind]) -> bool:
    """Asked with a reader first: an idle sender's poll must not take SQLite's write lock."""
    return bool(kinds) and session.scalar(_due(now, kinds).limit(1)) is not None


def claim(
    session: Session,
    now: datetime,
    *,
    kinds: Collection[OutboxKind],
    limit: int,
    lease: timedelta,
    max_tries: int,
) -> list[Claimed]:
    """Take up to `limit` due messages for one sender until `now + lease`. Other senders skip
    the rows this one locks (PostgreSQL); on SQLite the writer session's BEGIN IMMEDIATE
    makes claims one at a time. A message still `sending` past its lease lost its sender:
    it is due again, unless that was its last try."""
    if not kinds:
        return []
    due = (
        _due(now, kinds)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = []
    for message in session.scalars(due).all():
        if message.status == OutboxStatus.SENDING and message.attempts >= max_tries:
            message.status = OutboxStatus.DEAD
            message.last_error = LEASE_EXPIRED
            continue
        message.status = OutboxStatus.SENDING
        message.attempts += 1
        message.next_attempt_at = now + lease
        claimed.append(
            Claimed(
                id=message.id,
                kind=OutboxKind(message.kind),
                idempotency_key=message.idempotency_key,
                payload=message.payload,
                attempt=message.attempts,
            )
        )
    session.flush()
    return claimed


def _settle(session: Session, message: Claimed, **values: Any) -> bool:
    """Record a try's outcome, unless the claim ran out and another sender took it over."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message.id,
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.attempts == message.attempt,
        )
        .values(**values)
    )
    return bool(getattr(result, "rowcount", 0))


def record_sent(session: Session, message: Claimed, now: datetime) -> bool:
    return _settle(session, message, status=OutboxStatus.SENT, sent_at=now, last_error=None)


def release(session: Session, message: Claimed, now: datetime) -> bool:
    """Give back a claimed message, untried: its sender is stopping, or its claim has too
    little time left for a delivery to finish before another sender may take it over."""
    return _settle(
        session,
        message,
        status=OutboxStatus.PENDING,
        attempts=message.attempt - 1,
        next_attempt_at=now,
    )


def cancel(session: Session, which: ColumnElement[bool], *, reason: str) -> int:
    """End the waiting messages `which` picks out, untried, saying why. Those a sender
    holds are left to it: they may be on their way already."""
    result = session.execute(
        update(OutboxMessage)
        .where(which, OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.DEAD, last_error=reason)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))


def backoff(attempt: int, base_seconds: float, jitter: Callable[[], float]) -> timedelta:
    """Exponential backoff with "equal jitter": between half and all of base * 2^(n-1), so
    senders that failed together do not all come back at the same instant."""
    ceiling = base_seconds * 2 ** (attempt - 1)
    return timedelta(seconds=ceiling / 2 + jitter() * ceiling / 2)


def record_failure(
    session: Session,
    message: Claimed,
    error: str,
    now: datetime,
    *,
    retry_in: timedelta | None,
) -> bool:
    """A failed try: due again after `retry_in`, or dead when there is none."""
    if retry_in is None:
        return _settle(session, message, status=OutboxStatus.DEAD, last_error=error)
    return _settle(
        session,
        message,
        status=OutboxStatus.PENDING,
        next_attempt_at=now + retry_in,
        last_error=error,
    )


def get(session: Session, message_id: int) -> OutboxMessage:
    return get_by_id(session, OutboxMessage, message_id, "outbox message")


def list_some(
    session: Session, *, status: OutboxStatus | None, limit: int, offset: int
) -> Sequence[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit).offset(offset)
    if status:
        query = query.where(OutboxMessage.status == status)
    return session.scalars(query).all()


def retry(session: Session, message: OutboxMessage, now: datetime) -> OutboxMessage:
    """Give a dead message a fresh set of tries, starting now."""
    if message.status != OutboxStatus.DEAD:
        raise Conflict(f"Message {message.id} is {message.status}: only dead messages retry.")
    message.status = OutboxStatus.PENDING
    message.attempts = 0
    message.next_attempt_at = now
    session.flush()
    audit.record(session, Action.OUTBOX_RETRY, message)
    return message


def _count_emails(session: Session, *which: ColumnElement[bool]) -> int:
    emails = select(func.count()).select_from(OutboxMessage)
    return session.scalar(emails.where(OutboxMessage.kind == OutboxKind.EMAIL, *which)) or 0


def waiting_emails(session: Session) -> int:
    """Emails not yet sent, nor given up on."""
    return _count_emails(
        session, OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING))
    )


def emails_given_up(session: Session, since: datetime) -> int:
    """Emails given up on since `since`: out of tries (their last claim ended then), or
    cancelled."""
    return _count_emails(
        session,
        OutboxMessage.status == OutboxStatus.DEAD,
        OutboxMessage.next_attempt_at >= since,
    )


@dataclass(frozen=True)
class Asker:
    """Who asks for an emailed link, as the hour's limits count them: their network, and
    the limits per address (counted hashed under `secret_key`) and per network."""

    network: str
    secret_key: str
    per_address: int
    per_network: int


def link_requested(
    session: Session,
    email: str,
    asker: Asker,
    *,
    now: datetime,
) -> Literal["address", "network"] | None:
    """Count a request for an emailed link (a subscriber's "email me my links", a staff
    member's password reset), whether or not the address is known, so that the answer never
    tells. The limit it is over, in the last hour (then it is not counted), or None. Addresses
    are counted hashed under the server key: most of those asked for belong to no one."""
    email_hash = hmac.new(asker.secret_key.encode(), email.encode(), hashlib.sha256).hexdigest()
    since = now - LINK_REQUEST_WINDOW
    session.execute(delete(LinkRequest).where(LinkRequest.at < since))
    count = select(func.count()).select_from(LinkRequest).where(LinkRequest.at >= since)
    by_address = count.where(LinkRequest.email_hash == email_hash)
    if (session.scalar(by_address) or 0) >= asker.per_address:
        return "address"
    if (session.scalar(count.where(LinkRequest.ip == asker.network)) or 0) >= asker.per_network:
        return "network"
    session.add(LinkRequest(email_hash=email_hash, ip=asker.network, at=now))
    return None
