from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request
from pydantic import ValidationError

from app.accounts.service import Permission
from app.billing import service
from app.billing.schemas import BillingEvent, EventOutcome, PlanId, PlanIn, PlanOut
from app.db import SessionDep, utcnow
from app.deps import PageLinksDep, SettingsDep, UrlsDep, require
from app.errors import InvalidInput, NotFound, UnsupportedMedia
from app.models import Plan
from app.subscribers import service as subscribers

webhooks = APIRouter(tags=["billing"])
plans = APIRouter(
    prefix="/admin/plans", tags=["billing"], dependencies=[require(Permission.SUBSCRIBERS)]
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


@webhooks.post("/webhooks/billing")
def billing_event(
    body: Annotated[bytes, Depends(raw_body)],
    session: SessionDep,
    settings: SettingsDep,
    links: PageLinksDep,
    urls: UrlsDep,
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
        page_url=subscribers.page_link(links, urls, subscriber.id).url,
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
