from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.accounts.deps import require
from app.accounts.service import Permission
from app.audit import service as audit
from app.billing import service
from app.billing.providers import ghost, memberful, patreon, stripe
from app.billing.schemas import (
    BillingEvent,
    BillingEventOut,
    EventOutcome,
    PlanId,
    PlanIn,
    PlanOut,
    Provider,
    ProviderEvent,
)
from app.core import tokens
from app.core.config import Settings
from app.core.db.schema import MAX_ROW_ID
from app.core.db.session import SessionDep
from app.core.deps import ClockDep, Limit, PageLinksDep, SettingsDep, UrlsDep
from app.core.errors import InvalidInput, NotFound, UnsupportedMedia
from app.models import Plan
from app.subscribers import service as subscribers

webhooks = APIRouter(tags=["billing"])
plans = APIRouter(
    prefix="/admin/plans", tags=["billing"], dependencies=[require(Permission.SUBSCRIBERS)]
)
events = APIRouter(
    prefix="/admin/billing/events",
    tags=["billing"],
    dependencies=[require(Permission.SUBSCRIBERS)],
)


async def raw_body(request: Request) -> bytes:
    """The exact bytes the signature covers, read only if they are JSON of a sane size
    (the body-size limit caps webhooks at 1 MB)."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMedia(
            "Billing events must be JSON, sent with `Content-Type: application/json`."
        )
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


@dataclass(frozen=True)
class Delivery:
    """A billing provider's webhook as it arrived (the exact bytes its signature covers),
    and what checking and applying it needs."""

    body: bytes
    session: Session
    settings: Settings
    now: datetime


def _delivery(
    body: RawBody, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Delivery:
    return Delivery(body, session, settings, clock())


DeliveryDep = Annotated[Delivery, Depends(_delivery)]


@webhooks.post("/webhooks/billing")
def billing_event(
    body: RawBody,
    session: SessionDep,
    settings: SettingsDep,
    links: PageLinksDep,
    urls: UrlsDep,
    clock: ClockDep,
    signature: Annotated[str | None, Header(alias=tokens.SIGNATURE_HEADER)] = None,
) -> EventOutcome:
    """A subscription event from the billing system, signed with PODPASS_WEBHOOK_SECRET:
    `Podpass-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    if not settings.webhook_secret:
        raise NotFound("Billing webhooks are off: set PODPASS_WEBHOOK_SECRET to turn them on.")
    now = clock()
    tokens.verify(
        settings.webhook_secret,
        signature,
        body,
        now=now.timestamp(),
        tolerance=settings.webhook_tolerance_seconds,
    )
    try:
        event = BillingEvent.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"Malformed event: {problems}") from None
    audit.act_as(session, audit.billing("podpass"), clock)
    status, subscriber = service.apply(session, event, now=now)
    if subscriber is None:
        return EventOutcome(status=status)
    return EventOutcome(
        status=status,
        subscriber_id=subscriber.id,
        page_url=subscribers.page_link(links, urls, subscriber.id).url,
    )


def _secret(value: str, env_var: str) -> str:
    if not value:
        raise NotFound(f"This billing webhook is off: set {env_var} to turn it on.")
    return value


def _provider_outcome(
    delivery: Delivery, provider: Provider, event: ProviderEvent | None
) -> EventOutcome:
    """Apply a provider's event. Unlike Podpass's own webhook, no page link in the answer:
    providers keep responses in dashboards that more people see than should hold one."""
    if event is None:
        return EventOutcome(status="ignored: an event type Podpass does not use")
    audit.act_as(delivery.session, audit.billing(provider), lambda: delivery.now)
    status, subscriber = service.apply_provider(delivery.session, provider, event, now=delivery.now)
    return EventOutcome(status=status, subscriber_id=subscriber.id if subscriber else None)


@webhooks.post("/webhooks/stripe")
def stripe_event(
    delivery: DeliveryDep,
    signature: Annotated[str | None, Header(alias=stripe.SIGNATURE_HEADER)] = None,
) -> EventOutcome:
    """A Stripe event, checked by the `stripe` library against
    PODPASS_STRIPE_WEBHOOK_SECRET (its `whsec_…` signing secret)."""
    settings = delivery.settings
    secret = _secret(settings.stripe_webhook_secret, "PODPASS_STRIPE_WEBHOOK_SECRET")
    event = stripe.verified_event(
        secret, signature, delivery.body, tolerance=settings.webhook_tolerance_seconds
    )
    return _provider_outcome(delivery, Provider.STRIPE, stripe.translate(event))


@webhooks.post("/webhooks/memberful")
def memberful_event(
    delivery: DeliveryDep,
    signature: Annotated[str | None, Header(alias=memberful.SIGNATURE_HEADER)] = None,
) -> EventOutcome:
    """A Memberful webhook, signed with PODPASS_MEMBERFUL_WEBHOOK_SECRET."""
    secret = _secret(delivery.settings.memberful_webhook_secret, "PODPASS_MEMBERFUL_WEBHOOK_SECRET")
    memberful.verify(secret, signature, delivery.body)
    event = memberful.translate(delivery.body, delivery.now)
    return _provider_outcome(delivery, Provider.MEMBERFUL, event)


@webhooks.post("/webhooks/patreon")
def patreon_event(
    delivery: DeliveryDep,
    signature: Annotated[str | None, Header(alias=patreon.SIGNATURE_HEADER)] = None,
    trigger: Annotated[str | None, Header(alias=patreon.EVENT_HEADER)] = None,
) -> EventOutcome:
    """A Patreon webhook (members and pledges), signed with PODPASS_PATREON_WEBHOOK_SECRET."""
    secret = _secret(delivery.settings.patreon_webhook_secret, "PODPASS_PATREON_WEBHOOK_SECRET")
    patreon.verify(secret, signature, delivery.body)
    event = patreon.translate(trigger, delivery.body, delivery.now)
    return _provider_outcome(delivery, Provider.PATREON, event)


@webhooks.post("/webhooks/ghost")
def ghost_event(
    delivery: DeliveryDep,
    signature: Annotated[str | None, Header(alias=ghost.SIGNATURE_HEADER)] = None,
) -> EventOutcome:
    """A Ghost `member.*` webhook, signed with PODPASS_GHOST_WEBHOOK_SECRET."""
    settings = delivery.settings
    secret = _secret(settings.ghost_webhook_secret, "PODPASS_GHOST_WEBHOOK_SECRET")
    sent_at = ghost.verify(
        secret,
        signature,
        delivery.body,
        now=delivery.now.timestamp(),
        tolerance=settings.webhook_tolerance_seconds,
    )
    return _provider_outcome(delivery, Provider.GHOST, ghost.translate(delivery.body, sent_at))


def _plan_out(plan: Plan) -> PlanOut:
    external_ids: dict[str, list[str]] = {}
    for row in plan.external_ids:
        external_ids.setdefault(row.provider, []).append(row.external_id)
    return PlanOut(
        id=plan.id,
        name=plan.name,
        shows=[show.slug for show in plan.shows],
        external_ids=external_ids,
        back_catalogue=service.back_catalogue_of(plan),
    )


@plans.put("/{plan_id}")
def put_plan(plan_id: Annotated[PlanId, Path()], data: PlanIn, session: SessionDep) -> PlanOut:
    """Create or replace a plan: the billing system's plan id, mapped to shows."""
    return _plan_out(service.put_plan(session, plan_id, data))


@plans.get("")
def list_plans(session: SessionDep) -> list[PlanOut]:
    return [_plan_out(plan) for plan in service.list_plans(session)]


@plans.delete("/{plan_id}", status_code=204)
def delete_plan(plan_id: str, session: SessionDep) -> None:
    service.delete_plan(session, plan_id)


# Same shape as list_deliveries in outbox/router.py (a list route and its page's query): each
# its own filters, service and schema.
@events.get("")
def list_events(
    session: SessionDep,
    limit: Limit = 100,
    subscriber_id: Annotated[
        int | None, Query(ge=1, le=MAX_ROW_ID, description="Only those that concerned them.")
    ] = None,
) -> list[BillingEventOut]:
    """The latest billing events recorded, newest first, with what each did."""
    return [
        BillingEventOut(**row._asdict() | {"prices": list(row.prices)})
        for row in service.recent_events(session, limit=limit, subscriber_id=subscriber_id)
    ]


@events.post("/{event_id}/reapply")
def reapply_event(event_id: str, session: SessionDep, clock: ClockDep) -> EventOutcome:
    """Apply again an event ignored because no plan listed its price (409 for any other),
    as its webhook would: applied if a plan lists the price now, ignored again if not."""
    status, subscriber = service.reapply(session, event_id, now=clock())
    return EventOutcome(status=status, subscriber_id=subscriber.id if subscriber else None)
