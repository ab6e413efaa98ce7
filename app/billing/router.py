from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request
from pydantic import ValidationError

from app.billing import service
from app.billing.schemas import BillingEvent, EventOutcome, PlanId, PlanIn, PlanOut
from app.db import SessionDep, utcnow
from app.deps import AdminDep, PageLinksDep, SettingsDep
from app.errors import InvalidInput, NotFound
from app.models import Plan
from app.subscribers.router import page_link

webhooks = APIRouter(tags=["billing"])
plans = APIRouter(prefix="/admin/plans", tags=["billing"], dependencies=[AdminDep])


async def raw_body(request: Request) -> bytes:
    return await request.body()  # the signature covers the exact bytes


@webhooks.post("/webhooks/billing")
def billing_event(
    body: Annotated[bytes, Depends(raw_body)],
    session: SessionDep,
    settings: SettingsDep,
    links: PageLinksDep,
    signature: Annotated[str | None, Header(alias=service.SIGNATURE_HEADER)] = None,
) -> EventOutcome:
    """A subscription event from the billing system, signed with PODPASS_WEBHOOK_SECRET:
    `Podpass-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    if not settings.webhook_secret:
        raise NotFound("Billing webhooks are off: set PODPASS_WEBHOOK_SECRET to turn them on.")
    service.verify(
        settings.webhook_secret,
        signature,
        body,
        now=utcnow().timestamp(),
        tolerance=settings.webhook_tolerance_seconds,
    )
    try:
        event = BillingEvent.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"Malformed event: {problems}") from None
    status, subscriber = service.apply(session, event)
    if subscriber is None:
        return EventOutcome(status=status)
    return EventOutcome(
        status=status,
        subscriber_id=subscriber.id,
        page_url=page_link(links, settings, subscriber.id).url,
    )


def _plan_out(plan: Plan) -> PlanOut:
    return PlanOut(id=plan.id, name=plan.name, shows=[show.slug for show in plan.shows])


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
