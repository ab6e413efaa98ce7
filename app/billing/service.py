"""Billing webhooks (signed the way Stripe signs them) and the plans they refer to."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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
    """Apply one provider event, once. A grant whose prices no plan lists is ignored and
    not recorded: the provider's other products are none of Podpass's business, and once
    a plan lists the price, resending the event from the provider's dashboard applies it."""
    plan_id = None
    if event.type in _GRANTS:
        plan_id = _plan_id_for_prices(session, provider, event.prices)
        if plan_id is None:
            listed = ", ".join(event.prices) or "none"
            return f"ignored: no plan lists these {provider} ids ({listed})", None
    change = _Change(
        id=f"{provider}:{event.id}",
        type=event.type,
        occurred=event.occurred,
        customer_id=event.customer_id,
        email=_valid_email(event.email),
        plan_id=plan_id,
        applied_at=now,
    )
    return _apply(session, change, from_provider=True)


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
    record = _claim(session, change)
    if record is None:
        return "duplicate", None
    if change.type is BillingEventType.CUSTOMER_UPDATED:
        outcome, subscriber = _update_customer(session, change)
    else:
        outcome, subscriber = _change_access(session, change, from_provider=from_provider)
    record.outcome = outcome
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
        return "applied: linked the subscriber with this email", holder
    if holder is subscriber:
        return "applied: the email was already this", subscriber
    if holder is not None:
        return f"ignored: {change.email} belongs to another subscriber", subscriber
    subscriber.email = change.email
    subscriber.updated_at = change.applied_at
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


def _claim(session: Session, change: _Change) -> WebhookEvent | None:
    """Record the event before applying it, or None if it is already recorded. A second
    delivery of the same event running at the same time waits on this row (PostgreSQL holds
    a second insert of a key until the first transaction ends) and then finds it; if the
    first one fails, the row goes with it and the second one applies the event."""
    if session.get(WebhookEvent, change.id) is not None:
        return None
    record = WebhookEvent(
        id=change.id, type=change.type, occurred_at=change.occurred, outcome="applying"
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
        return existing
    return subscribers.create(
        session,
        SubscriberCreate(email=email, external_id=change.customer_id, shows=[]),
        now=change.applied_at,
    )


def put_plan(session: Session, plan_id: str, data: PlanIn) -> Plan:
    entitled = shows.get_many(session, data.shows)
    plan = session.get(Plan, plan_id)
    if plan is None:
        plan = Plan(id=plan_id, name=data.name)
        session.add(plan)
    plan.name = data.name
    plan.shows = list(entitled)
    if data.external_ids is not None:
        _set_external_ids(session, plan, data.external_ids)
    if data.back_catalogue is not None:
        _set_back_catalogue(plan, data.back_catalogue)
    session.flush()
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


def _set_external_ids(
    session: Session, plan: Plan, external_ids: Mapping[Provider, Sequence[str]]
) -> None:
    wanted = {(provider, ext) for provider, ids in external_ids.items() for ext in ids}
    taken = [
        row
        for provider, ext in sorted(wanted)
        if (row := session.get(PlanExternalId, (provider, ext))) is not None
        and row.plan_id != plan.id
    ]
    if taken:
        listed = ", ".join(
            f"{row.provider} {row.external_id} (plan {row.plan_id})" for row in taken
        )
        raise Conflict(f"Each id buys one plan, and these already buy another: {listed}.")
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
    session.delete(plan)
    session.flush()
