"""Billing webhooks (signed the way Stripe signs them) and the plans they refer to."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.service import Action
from app.billing.schemas import (
    AllEpisodes,
    BackCatalogueRule,
    BillingEvent,
    BillingEventType,
    LatestEpisodes,
    PlanIn,
    Provider,
    ProviderEvent,
    SinceJoining,
)
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.fields import Email
from app.models import (
    BackCatalogue,
    Plan,
    PlanExternalId,
    Subscriber,
    SubscriberStatus,
    WebhookEvent,
)
from app.shows import service as shows
from app.subscribers import service as subscribers
from app.subscribers.schemas import SubscriberCreate

_GRANTS = {BillingEventType.CREATED, BillingEventType.RENEWED, BillingEventType.PLAN_CHANGED}
_ENDS = {
    BillingEventType.LAPSED: SubscriberStatus.LAPSED,
    BillingEventType.CANCELLED: SubscriberStatus.LAPSED,
    BillingEventType.REFUNDED: SubscriberStatus.REVOKED,
}
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)
OUTCOME_CHARS = 255  # webhook_events.outcome
# A kept event is a few ids and an email; one past this (an invoice of hundreds of lines)
# is not kept, so the table holds no provider's payload of any size.
KEPT_PAYLOAD_CHARS = 4096
# Event times are whole seconds, and providers send related events within one: those are
# ordered by what they mean. Access starts, a payment fails, access ends, a refund follows.
_MEANING_ORDER: dict[str, int] = {
    BillingEventType.CREATED: 0,
    BillingEventType.RENEWED: 0,
    BillingEventType.PLAN_CHANGED: 0,
    BillingEventType.PAST_DUE: 1,
    BillingEventType.LAPSED: 2,
    BillingEventType.CANCELLED: 2,
    BillingEventType.REFUNDED: 3,
}


@dataclass(frozen=True)
class _Change:
    """One event, from either source (Podpass's own format or a provider's), as applied."""

    id: str
    type: BillingEventType
    occurred: datetime
    customer_id: str
    email: str | None
    plan_id: str | None
    applied_at: datetime  # now, as the request's clock says (`occurred` is the sender's)


def apply(session: Session, event: BillingEvent, *, now: datetime) -> tuple[str, Subscriber | None]:
    """Apply one event in Podpass's own format, once. Returns what happened and to whom."""
    change = _Change(
        id=event.id,
        type=event.type,
        occurred=datetime.fromtimestamp(event.created, UTC),
        customer_id=event.data.customer_id,
        email=event.data.email,
        plan_id=event.data.plan,
        applied_at=now,
    )
    return _apply(session, change, from_provider=False)


def apply_provider(
    session: Session, provider: Provider, event: ProviderEvent, *, now: datetime
) -> tuple[str, Subscriber | None]:
    """Apply one provider event, once. A grant whose prices no plan lists is ignored: the
    provider's other products are none of Podpass's business. It is kept, though, so that
    once a plan lists the price, `reapply` (or the provider resending it) applies it."""
    plan_id = None
    if event.type in _GRANTS:
        plan_id = _plan_id_for_prices(session, provider, event.prices)
        if plan_id is None:
            return _keep_unlisted(session, provider, event, now), None
    change = _Change(
        id=_event_id(provider, event),
        type=event.type,
        occurred=event.occurred,
        customer_id=event.customer_id,
        email=_valid_email(event.email),
        plan_id=plan_id,
        applied_at=now,
    )
    return _apply(session, change, from_provider=True)


def _event_id(provider: Provider, event: ProviderEvent) -> str:
    return f"{provider}:{event.id}"


def _keep_unlisted(
    session: Session, provider: Provider, event: ProviderEvent, now: datetime
) -> str:
    listed = ", ".join(event.prices) or "none"
    outcome = f"ignored: no plan lists these {provider} ids ({listed})"[:OUTCOME_CHARS]
    payload = _kept(provider, event)
    if len(json.dumps(payload)) > KEPT_PAYLOAD_CHARS:  # not kept: nothing to re-apply from
        return f"{outcome}; too large to keep: resend it from {provider} once a plan lists it"
    record = _claim(session, _event_id(provider, event), event.type, event.occurred, now)
    if record is None:
        return "duplicate"
    record.outcome = outcome
    record.payload = payload
    session.flush()
    return outcome


def _kept(provider: Provider, event: ProviderEvent) -> dict[str, Any]:
    """What re-applying needs, and no more: not the provider's body, which holds names,
    addresses and payment details."""
    return {
        "provider": provider.value,
        "id": event.id,
        "type": event.type.value,
        "occurred": event.occurred.isoformat(),
        "customer_id": event.customer_id,
        "email": event.email,
        "prices": list(event.prices),
    }


def reapply(session: Session, event_id: str, *, now: datetime) -> tuple[str, Subscriber | None]:
    """Apply again a kept event that was ignored because no plan listed its price, through
    the path its webhook took: applied now if a plan lists the price, ignored again if not."""
    record = session.get(WebhookEvent, event_id)
    if record is None:
        raise NotFound(f"No billing event {event_id!r}.")
    if record.payload is None:
        raise Conflict(
            f"Event {event_id} is {record.outcome.partition(':')[0]}: only an event ignored "
            "because no plan listed its price can be applied again."
        )
    kept = record.payload
    event = ProviderEvent(
        id=kept["id"],
        type=BillingEventType(kept["type"]),
        occurred=datetime.fromisoformat(kept["occurred"]),
        customer_id=kept["customer_id"],
        email=kept["email"],
        prices=tuple(kept["prices"]),
    )
    return apply_provider(session, Provider(kept["provider"]), event, now=now)


class EventRow(NamedTuple):
    """A billing event as the console lists it. `source`: the provider, or `podpass` (its
    own format); `plan_id`: for a kept event, the plan that lists its price now."""

    id: str
    source: str
    type: str
    occurred_at: datetime
    received_at: datetime
    outcome: str
    why: str
    duplicates: int
    kept: bool
    prices: tuple[str, ...]
    plan_id: str | None
    subscriber_id: int | None


OWN_FORMAT = "podpass"


def _source(event_id: str) -> str:
    prefix, colon, _ = event_id.partition(":")
    return prefix if colon and prefix in set(Provider) else OWN_FORMAT


def _row(session: Session, record: WebhookEvent) -> EventRow:
    outcome, _, why = record.outcome.partition(": ")
    kept = record.payload
    prices = tuple(kept["prices"]) if kept else ()
    return EventRow(
        id=record.id,
        source=_source(record.id),
        type=record.type,
        occurred_at=record.occurred_at,
        received_at=record.received_at,
        outcome=outcome,
        why=why,
        duplicates=record.duplicates,
        kept=kept is not None,
        prices=prices,
        plan_id=_plan_id_for_prices(session, Provider(kept["provider"]), prices) if kept else None,
        subscriber_id=record.subscriber_id,
    )


def recent_events(
    session: Session, *, limit: int, subscriber_id: int | None = None
) -> list[EventRow]:
    """The latest events recorded, newest first; given a subscriber, those that concerned
    them (events recorded before Podpass stored whom one concerned name no one)."""
    # Of the same moment (one clock reading), the later-happening first.
    newest = (WebhookEvent.received_at.desc(), WebhookEvent.occurred_at.desc())
    query = select(WebhookEvent).order_by(*newest).limit(limit)
    if subscriber_id is not None:
        query = query.where(WebhookEvent.subscriber_id == subscriber_id)
    return [_row(session, record) for record in session.scalars(query)]


def last_events(session: Session) -> dict[str, EventRow]:
    """Each source's latest event (a provider, or `podpass`): whether its webhook gets
    through."""
    prefixes = [WebhookEvent.id.startswith(f"{provider}:") for provider in Provider]
    latest = {}
    for provider, prefix in zip(Provider, prefixes, strict=True):
        latest[provider.value] = session.scalar(
            select(WebhookEvent).where(prefix).order_by(WebhookEvent.received_at.desc()).limit(1)
        )
    latest[OWN_FORMAT] = session.scalar(
        select(WebhookEvent)
        .where(~or_(*prefixes))
        .order_by(WebhookEvent.received_at.desc())
        .limit(1)
    )
    return {source: _row(session, record) for source, record in latest.items() if record}


def forget_kept(session: Session, now: datetime, retention_days: int) -> int:
    """Delete the kept events no plan came to list within the retention period (they were
    never applied: a provider resending one later applies it as new)."""
    result = session.execute(
        delete(WebhookEvent)
        .where(
            WebhookEvent.payload.is_not(None),
            WebhookEvent.received_at < now - timedelta(days=retention_days),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))


def _valid_email(email: str | None) -> str | None:
    if email is None:
        return None
    try:
        return _EMAIL.validate_python(email)
    except ValidationError:
        raise InvalidInput(f"The event's email {email!r} is not an email address.") from None


def _plan_id_for_prices(session: Session, provider: Provider, prices: Sequence[str]) -> str | None:
    """The plan the first listed price buys (a subscription with several items gets the
    first one's plan)."""
    found = {
        row.external_id: row.plan_id
        for row in session.scalars(
            select(PlanExternalId).where(
                PlanExternalId.provider == provider, PlanExternalId.external_id.in_(prices)
            )
        )
    }
    return next((found[price] for price in prices if price in found), None)


def _apply(
    session: Session, change: _Change, *, from_provider: bool
) -> tuple[str, Subscriber | None]:
    record = _claim(session, change.id, change.type, change.occurred, change.applied_at)
    if record is None:
        return "duplicate", None
    if change.type is BillingEventType.CUSTOMER_UPDATED:
        outcome, subscriber = _update_customer(session, change)
    else:
        outcome, subscriber = _change_access(session, change, from_provider=from_provider)
    record.outcome = outcome
    record.payload = None
    record.subscriber_id = subscriber.id if subscriber else None
    session.flush()
    return outcome, subscriber


def _change_access(
    session: Session, change: _Change, *, from_provider: bool
) -> tuple[str, Subscriber | None]:
    plan = _plan_for(session, change)
    subscriber = _subscriber_for(session, change, from_provider=from_provider)
    if subscriber is None:
        return "ignored: no subscriber has this customer_id", None
    if subscriber.billing_event_at is not None and change.occurred < subscriber.billing_event_at:
        return "stale: a later event was already applied", subscriber
    if _comes_before_the_last(change, subscriber):
        last = subscriber.billing_event_type
        return f"superseded: {last}, of the same second, comes after it", subscriber
    was_past_due = subscriber.past_due_since is not None
    if plan is not None:
        slugs = [show.slug for show in plan.shows]
        subscribers.set_shows(session, subscriber, slugs, now=change.applied_at)
        subscribers.set_status(session, subscriber, SubscriberStatus.ACTIVE, now=change.applied_at)
        subscriber.past_due_since = None
        if subscriber.plan_id != plan.id:
            audit.record(session, Action.SUBSCRIBER_PLAN, subscriber, {"plan": plan.id})
        subscriber.plan_id = plan.id
    elif change.type is BillingEventType.PAST_DUE:
        # The grace period runs from the first failure, however many retries fail after it.
        subscriber.past_due_since = subscriber.past_due_since or change.occurred
    else:
        subscribers.set_status(session, subscriber, _ENDS[change.type], now=change.applied_at)
        subscriber.past_due_since = None
    if was_past_due != (subscriber.past_due_since is not None):  # the feeds' payment item
        subscribers.feeds_changed(subscriber, now=change.applied_at)
    subscriber.billing_event_at = change.occurred
    subscriber.billing_event_type = change.type
    return "applied", subscriber


def _comes_before_the_last(change: _Change, subscriber: Subscriber) -> bool:
    """Of the same second as the last event applied to the subscriber, and before it in
    meaning."""
    last = _MEANING_ORDER.get(subscriber.billing_event_type or "")
    return (
        change.occurred == subscriber.billing_event_at
        and last is not None
        and _MEANING_ORDER[change.type] < last
    )


def _update_customer(session: Session, change: _Change) -> tuple[str, Subscriber | None]:
    """A new address for a known customer, or a link to a subscriber added by hand. Not
    ordered against access events (an address change says nothing about access)."""
    if change.email is None:
        raise InvalidInput(f"A {change.type} event needs data.email.")
    subscriber = _locked_subscriber(session, change.customer_id)
    holder = session.scalar(
        select(Subscriber).where(Subscriber.email == change.email).with_for_update()
    )
    if subscriber is None:
        if holder is None or holder.external_id is not None:
            return "ignored: no subscriber has this customer_id", None
        holder.external_id = change.customer_id
        audit.record(session, Action.SUBSCRIBER_UPDATE, holder, {"fields": ["external_id"]})
        return "applied: linked the subscriber with this email", holder
    if holder is subscriber:
        return "applied: the email was already this", subscriber
    if holder is not None:
        return f"ignored: {change.email} belongs to another subscriber", subscriber
    subscriber.email = change.email
    subscriber.updated_at = change.applied_at
    audit.record(session, Action.SUBSCRIBER_UPDATE, subscriber, {"fields": ["email"]})
    return "applied", subscriber


def lapse_past_due(session: Session, now: datetime, *, grace_days: float) -> int:
    """Lapse the subscribers whose payment has been past due for longer than the grace
    period (the `past_due` job). Returns how many."""
    overdue = session.scalars(
        select(Subscriber)
        .where(
            Subscriber.past_due_since <= now - timedelta(days=grace_days),
            Subscriber.status == SubscriberStatus.ACTIVE,
        )
        .with_for_update()
    ).all()
    for subscriber in overdue:
        subscribers.set_status(session, subscriber, SubscriberStatus.LAPSED, now=now)
        subscriber.past_due_since = None
    session.flush()
    return len(overdue)


def _claim(
    session: Session, event_id: str, event_type: str, occurred: datetime, now: datetime
) -> WebhookEvent | None:
    """Record the event before applying it, or None if it is already recorded (counted as
    a duplicate). An event kept unapplied (no plan listed its price) is taken again. A
    second delivery of the same event running at the same time waits on this row
    (PostgreSQL holds a second insert of a key, or a locked row, until the first
    transaction ends) and then finds it; if the first one fails, the row goes with it and
    the second one applies the event."""
    found = session.get(WebhookEvent, event_id, with_for_update=True)
    if found is not None:
        if found.payload is not None:
            return found
        found.duplicates += 1
        return None
    record = WebhookEvent(
        id=event_id, type=event_type, occurred_at=occurred, received_at=now, outcome="applying"
    )
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


def _subscriber_for(session: Session, change: _Change, *, from_provider: bool) -> Subscriber | None:
    customer_id = change.customer_id
    subscriber = _locked_subscriber(session, customer_id)
    if subscriber is not None or change.type not in _GRANTS:
        return subscriber
    if change.email is None and from_provider:
        # Stripe's subscription events name the customer but not their email; its
        # invoice.paid, which carries both, creates the subscriber.
        return None
    try:
        with session.begin_nested():
            return _new_subscriber(session, change)
    except (IntegrityError, Conflict):
        # Another event for this new customer created them a moment ago: the insert waited
        # for that transaction to commit, so the subscriber is there to find now.
        return _locked_subscriber(session, customer_id) or _new_subscriber(session, change)


def _plan_for(session: Session, change: _Change) -> Plan | None:
    if change.type not in _GRANTS:
        return None
    if change.plan_id is None:
        raise InvalidInput(f"A {change.type} event needs data.plan.")
    plan = session.get(Plan, change.plan_id)
    if plan is None:
        raise InvalidInput(
            f"Unknown plan {change.plan_id!r}: map it to shows first with "
            f"PUT /admin/plans/{change.plan_id}. Nothing was changed."
        )
    return plan


def _new_subscriber(session: Session, change: _Change) -> Subscriber:
    email = change.email
    if email is None:
        raise InvalidInput("A new customer needs data.email.")
    existing = session.scalar(select(Subscriber).where(Subscriber.email == email).with_for_update())
    if existing is not None:  # added by hand before billing knew them: link the two
        if existing.external_id not in (None, change.customer_id):
            raise InvalidInput(f"{email} already belongs to customer {existing.external_id}.")
        existing.external_id = change.customer_id
        audit.record(session, Action.SUBSCRIBER_UPDATE, existing, {"fields": ["external_id"]})
        return existing
    return subscribers.create(
        session,
        SubscriberCreate(email=email, external_id=change.customer_id, shows=[]),
        now=change.applied_at,
    )


def put_plan(session: Session, plan_id: str, data: PlanIn) -> Plan:
    """Refused (NotFound, Conflict) before anything changes, so a form can show the
    problem and go on."""
    entitled = shows.get_many(session, data.shows)
    wanted = {(provider, ext) for provider, ids in (data.external_ids or {}).items() for ext in ids}
    _refuse_taken(session, plan_id, wanted)
    plan = session.get(Plan, plan_id)
    action = Action.PLAN_UPDATE if plan else Action.PLAN_CREATE
    if plan is None:
        plan = Plan(id=plan_id, name=data.name)
        session.add(plan)
    plan.name = data.name
    plan.shows = list(entitled)
    if data.external_ids is not None:
        _set_external_ids(plan, wanted)
    if data.back_catalogue is not None:
        _set_back_catalogue(plan, data.back_catalogue)
    session.flush()
    audit.record(session, action, plan, {"shows": sorted(data.shows)})
    return plan


def _set_back_catalogue(plan: Plan, rule: BackCatalogueRule) -> None:
    plan.back_catalogue = rule.rule
    plan.back_catalogue_latest = rule.episodes if isinstance(rule, LatestEpisodes) else None
    plan.back_catalogue_days = rule.days_before if isinstance(rule, SinceJoining) else None


def back_catalogue_of(plan: Plan) -> BackCatalogueRule:
    if plan.back_catalogue == BackCatalogue.LATEST and plan.back_catalogue_latest is not None:
        return LatestEpisodes(rule="latest", episodes=plan.back_catalogue_latest)
    if plan.back_catalogue == BackCatalogue.SINCE_JOINING and plan.back_catalogue_days is not None:
        return SinceJoining(rule="since_joining", days_before=plan.back_catalogue_days)
    return AllEpisodes()


def _refuse_taken(session: Session, plan_id: str, wanted: set[tuple[Provider, str]]) -> None:
    taken = [
        row
        for provider, ext in sorted(wanted)
        if (row := session.get(PlanExternalId, (provider, ext))) is not None
        and row.plan_id != plan_id
    ]
    if taken:
        listed = ", ".join(
            f"{row.provider} {row.external_id} (plan {row.plan_id})" for row in taken
        )
        raise Conflict(f"Each id buys one plan, and these already buy another: {listed}.")


def _set_external_ids(plan: Plan, wanted: set[tuple[Provider, str]]) -> None:
    kept = [row for row in plan.external_ids if (row.provider, row.external_id) in wanted]
    have = {(row.provider, row.external_id) for row in kept}
    plan.external_ids = kept + [
        PlanExternalId(provider=provider, external_id=ext)
        for provider, ext in sorted(wanted - have)
    ]


def list_plans(session: Session) -> Sequence[Plan]:
    return session.scalars(select(Plan).order_by(Plan.id)).all()


def delete_plan(session: Session, plan_id: str) -> None:
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise NotFound(f"No plan {plan_id!r}.")
    audit.record(session, Action.PLAN_DELETE, plan)
    session.delete(plan)
    session.flush()
