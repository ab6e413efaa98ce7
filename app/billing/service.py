"""Billing webhooks (signed the way Stripe signs them) and the plans they refer to."""

import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.billing.schemas import BillingEvent, EventType, PlanIn
from app.errors import AppError, Conflict, InvalidInput, NotFound
from app.models import Plan, Subscriber, SubscriberStatus, WebhookEvent
from app.shows import service as shows
from app.subscribers import service as subscribers
from app.subscribers.schemas import SubscriberCreate

SIGNATURE_HEADER = "Podpass-Signature"
_GRANTS = {EventType.CREATED, EventType.RENEWED, EventType.PLAN_CHANGED}
_ENDS = {
    EventType.LAPSED: SubscriberStatus.LAPSED,
    EventType.CANCELLED: SubscriberStatus.LAPSED,
    EventType.REFUNDED: SubscriberStatus.REVOKED,
}


class SignatureRejected(AppError):
    status_code = 400
    error = "bad_signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for a payload: `t=<unix time>,v1=<hex HMAC-SHA256>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str | None, body: bytes, *, now: float, tolerance: int) -> None:
    if not header:
        raise SignatureRejected(f"Missing the {SIGNATURE_HEADER} header.")
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in parts if key.strip() == "t"]
    signatures = [value.strip() for key, value in parts if key.strip() == "v1"]
    if len(timestamps) != 1 or not timestamps[0].strip().isdigit() or not signatures:
        raise SignatureRejected(f"{SIGNATURE_HEADER} must look like t=<unix time>,v1=<hex>.")
    timestamp = int(timestamps[0])
    expected = sign(secret, timestamp, body).rsplit("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, signature) for signature in signatures):
        raise SignatureRejected("The signature does not match the payload and secret.")
    if abs(now - timestamp) > tolerance:
        raise SignatureRejected(
            f"The signature's timestamp is more than {tolerance} s from now: a replay, or a "
            "clock that needs setting."
        )


def apply(session: Session, event: BillingEvent) -> tuple[str, Subscriber | None]:
    """Apply one event, once. Returns what happened and to whom."""
    occurred = datetime.fromtimestamp(event.created, UTC)
    record = _claim(session, event, occurred)
    if record is None:
        return "duplicate", None
    plan = _plan_for(session, event)
    subscriber = _subscriber_for(session, event)
    if subscriber is None:
        outcome = "ignored: no subscriber has this customer_id"
    elif subscriber.billing_event_at is not None and occurred <= subscriber.billing_event_at:
        outcome = "stale: a later event was already applied"
    else:
        if plan is not None:
            subscribers.set_shows(session, subscriber, [show.slug for show in plan.shows])
            subscribers.set_status(session, subscriber, SubscriberStatus.ACTIVE)
        else:
            subscribers.set_status(session, subscriber, _ENDS[event.type])
        subscriber.billing_event_at = occurred
        outcome = "applied"
    record.outcome = outcome
    session.flush()
    return outcome, subscriber


def _claim(session: Session, event: BillingEvent, occurred: datetime) -> WebhookEvent | None:
    """Record the event before applying it, or None if it is already recorded. A second
    delivery of the same event running at the same time waits on this row (PostgreSQL holds
    a second insert of a key until the first transaction ends) and then finds it; if the
    first one fails, the row goes with it and the second one applies the event."""
    if session.get(WebhookEvent, event.id) is not None:
        return None
    record = WebhookEvent(id=event.id, type=event.type, occurred_at=occurred, outcome="applying")
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        return None
    return record


def _locked_subscriber(session: Session, customer_id: str) -> Subscriber | None:
    """The customer's subscriber, locked until the transaction ends: events for one
    customer apply one at a time, so the later-event-wins check holds under concurrency."""
    return session.scalar(
        select(Subscriber).where(Subscriber.external_id == customer_id).with_for_update()
    )


def _subscriber_for(session: Session, event: BillingEvent) -> Subscriber | None:
    customer_id = event.data.customer_id
    subscriber = _locked_subscriber(session, customer_id)
    if subscriber is not None or event.type not in _GRANTS:
        return subscriber
    try:
        with session.begin_nested():
            return _new_subscriber(session, event)
    except (IntegrityError, Conflict):
        # Another event for this new customer created them a moment ago: the insert waited
        # for that transaction to commit, so the subscriber is there to find now.
        return _locked_subscriber(session, customer_id) or _new_subscriber(session, event)


def _plan_for(session: Session, event: BillingEvent) -> Plan | None:
    if event.type not in _GRANTS:
        return None
    if event.data.plan is None:
        raise InvalidInput(f"A {event.type} event needs data.plan.")
    plan = session.get(Plan, event.data.plan)
    if plan is None:
        raise InvalidInput(
            f"Unknown plan {event.data.plan!r}: map it to shows first with "
            f"PUT /admin/plans/{event.data.plan}. Nothing was changed."
        )
    return plan


def _new_subscriber(session: Session, event: BillingEvent) -> Subscriber:
    email = event.data.email
    if email is None:
        raise InvalidInput("A new customer needs data.email.")
    existing = session.scalar(select(Subscriber).where(Subscriber.email == email).with_for_update())
    if existing is not None:  # added by hand before billing knew them: link the two
        if existing.external_id not in (None, event.data.customer_id):
            raise InvalidInput(f"{email} already belongs to customer {existing.external_id}.")
        existing.external_id = event.data.customer_id
        return existing
    return subscribers.create(
        session, SubscriberCreate(email=email, external_id=event.data.customer_id, shows=[])
    )


def put_plan(session: Session, plan_id: str, data: PlanIn) -> Plan:
    entitled = shows.get_many(session, data.shows)
    plan = session.get(Plan, plan_id)
    if plan is None:
        plan = Plan(id=plan_id, name=data.name)
        session.add(plan)
    plan.name = data.name
    plan.shows = list(entitled)
    session.flush()
    return plan


def list_plans(session: Session) -> Sequence[Plan]:
    return session.scalars(select(Plan).order_by(Plan.id)).all()


def delete_plan(session: Session, plan_id: str) -> None:
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise NotFound(f"No plan {plan_id!r}.")
    session.delete(plan)
    session.flush()
