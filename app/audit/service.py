"""The audit log: who did what to what, and when. A service records an action next to the
change, in the change's transaction (a change rolled back leaves no row); who acts, and
their clock, are put on the session once by whatever identified them (`act_as`: the API's
and the console's principal dependencies, a billing webhook, a job, a command), so no
service signature carries them. Packages point down: every domain imports this, and this
imports no domain."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.core.clock import Clock, utcnow
from app.models import (
    ApiKey,
    AuditEvent,
    AuditVia,
    Episode,
    OutboxMessage,
    Plan,
    SharingAlert,
    Show,
    StaffUser,
    Subscriber,
    WebhookEndpoint,
)


class Action(StrEnum):
    EPISODE_UPLOAD = "episode.upload"
    EPISODE_UPDATE = "episode.update"
    EPISODE_PUBLISH = "episode.publish"
    EPISODE_UNPUBLISH = "episode.unpublish"
    EPISODE_DELETE = "episode.delete"
    EPISODE_REPLACE_AUDIO = "episode.replace_audio"
    SHOW_CREATE = "show.create"
    SHOW_UPDATE = "show.update"
    PLAN_CREATE = "plan.create"
    PLAN_UPDATE = "plan.update"
    PLAN_DELETE = "plan.delete"
    SUBSCRIBER_CREATE = "subscriber.create"
    SUBSCRIBER_UPDATE = "subscriber.update"
    SUBSCRIBER_SHOWS = "subscriber.shows"
    SUBSCRIBER_PLAN = "subscriber.plan"
    SUBSCRIBER_LAPSE = "subscriber.lapse"
    SUBSCRIBER_REINSTATE = "subscriber.reinstate"
    SUBSCRIBER_REVOKE = "subscriber.revoke"
    SUBSCRIBER_ROTATE = "subscriber.rotate"
    ACCOUNT_CREATE = "account.create"
    ACCOUNT_ROLE = "account.role"
    ACCOUNT_DISABLE = "account.disable"
    ACCOUNT_ENABLE = "account.enable"
    ACCOUNT_PASSWORD = "account.password"  # noqa: S105 (an action's name)
    ACCOUNT_UNLOCK = "account.unlock"
    APIKEY_CREATE = "apikey.create"
    APIKEY_REVOKE = "apikey.revoke"
    WEBHOOK_CREATE = "webhook.create"
    WEBHOOK_UPDATE = "webhook.update"
    WEBHOOK_ROTATE = "webhook.rotate"
    WEBHOOK_DELETE = "webhook.delete"
    ALERT_ACKNOWLEDGE = "alert.acknowledge"
    OUTBOX_RETRY = "outbox.retry"


@dataclass(frozen=True)
class Actor:
    """Who acts: `label` as the log shows it (an email, PODPASS_ADMIN_KEY, billing:stripe,
    system), `user_id` their staff account (None: no account)."""

    label: str
    via: AuditVia
    user_id: int | None = None


SYSTEM = Actor("system", AuditVia.SYSTEM)
COMMAND_LINE = Actor("command line", AuditVia.CLI)


def billing(provider: str) -> Actor:
    """A billing provider's webhook (`podpass`: Podpass's own signed format)."""
    return Actor(f"billing:{provider}", AuditVia.BILLING)


_ACTOR = "audit_actor"
_CLOCK = "audit_clock"


def act_as(session: Session, actor: Actor, clock: Clock) -> None:
    """What `record` writes as who acts, and when, for the rest of the session."""
    session.info[_ACTOR] = actor
    session.info[_CLOCK] = clock


def actor_of(session: Session) -> Actor:
    """Who acts in this session; SYSTEM where no one said (a job, a migration's data)."""
    actor: Actor = session.info.get(_ACTOR, SYSTEM)
    return actor


Audited = (
    ApiKey
    | Episode
    | OutboxMessage
    | Plan
    | SharingAlert
    | Show
    | StaffUser
    | Subscriber
    | WebhookEndpoint
)


class Target(NamedTuple):
    type: str
    id: str
    label: str


def target_of(row: Audited) -> Target:
    """How the log names a row, as it is now (the label is kept when the row goes)."""
    match row:
        case Episode():
            return Target("episode", str(row.id), row.title)
        case Show():
            return Target("show", str(row.id), row.slug)
        case Subscriber():
            return Target("subscriber", str(row.id), row.email)
        case Plan():
            return Target("plan", row.id, row.name)
        case StaffUser():
            return Target("account", str(row.id), row.email)
        case ApiKey():
            return Target("apikey", str(row.id), f"{row.name} (pp_{row.key_id}…)")
        case WebhookEndpoint():
            return Target("webhook", str(row.id), row.url)
        case SharingAlert():
            where = f"subscriber #{row.subscriber_id}'s feed of show #{row.show_id}"
            return Target("alert", str(row.id), where)
        case OutboxMessage():
            what = row.payload.get("template") or row.payload.get("type") or row.kind
            to = row.payload.get("to") or f"endpoint #{row.payload.get('endpoint_id')}"
            return Target("message", str(row.id), f"{what} to {to}")


LABEL_LENGTH = AuditEvent.target_label.type.length or 500


def record(
    session: Session, action: Action, row: Audited, detail: dict[str, Any] | None = None
) -> None:
    """Log `action` on `row` by whoever the session acts as (the row must have its id:
    record after the flush that gives it one, and before a delete)."""
    actor = actor_of(session)
    clock: Clock = session.info.get(_CLOCK, utcnow)
    target = target_of(row)
    session.add(
        AuditEvent(
            at=clock(),
            actor_user_id=actor.user_id,
            actor=actor.label,
            via=actor.via,
            action=action,
            target_type=target.type,
            target_id=target.id,
            target_label=target.label[:LABEL_LENGTH],
            detail=detail or {},
        )
    )


# Same shape as ShowFields in shows/schemas.py (optional field after optional field): a
# query's filters here, a show's fields there.
@dataclass(frozen=True)
class Filters:
    """Which events to list; None: any. `until` is exclusive."""

    action: Action | None = None
    actor: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def day_filters(
    zone: tzinfo,
    *,
    action: Action | None,
    actor: str | None,
    first_day: date | None,
    last_day: date | None,
    target_type: str | None = None,
    target_id: str | None = None,
) -> Filters:
    """Filters over whole days as the publisher reads them (PODPASS_TIMEZONE), both days
    included: the API's `from` and `to`, and the console's."""
    return Filters(
        action=action,
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        since=_midnight(first_day, zone) if first_day else None,
        until=_midnight(last_day, zone, days_after=1) if last_day else None,
    )


def _midnight(day: date, zone: tzinfo, *, days_after: int = 0) -> datetime | None:
    """The start of the day, in UTC; None at the calendar's ends (year 1, 9999), which
    bound nothing."""
    try:
        return datetime.combine(day + timedelta(days=days_after), time(), zone).astimezone(UTC)
    except OverflowError:
        return None


def _filtered(filters: Filters) -> Select[AuditEvent]:
    query = select(AuditEvent)
    if filters.action is not None:
        query = query.where(AuditEvent.action == filters.action)
    if filters.actor:
        # Emails are stored lower-cased, PODPASS_ADMIN_KEY is not: whichever case is typed.
        query = query.where(func.lower(AuditEvent.actor) == filters.actor.strip().lower())
    if filters.target_type:
        query = query.where(AuditEvent.target_type == filters.target_type)
    if filters.target_id:
        query = query.where(AuditEvent.target_id == filters.target_id)
    if filters.since is not None:
        query = query.where(AuditEvent.at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.at < filters.until)
    return query


def list_some(
    session: Session, filters: Filters, *, limit: int, offset: int
) -> Sequence[AuditEvent]:
    """Newest first."""
    query = _filtered(filters).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    return session.scalars(query.limit(limit).offset(offset)).all()
