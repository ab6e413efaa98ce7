"""The console's billing page (support, who answer "I paid and have no feed"; the plans page
is theirs too): whether each billing webhook is set up and getting through, the latest
events and what each did, and an ignored event applied again once a plan lists its price."""

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response

from app.billing import service as billing
from app.billing.service import EventRow
from app.console.deps import CONSOLE, SUPPORT, SUPPORT_FORM
from app.console.pages import redirect, render
from app.core.config import Settings
from app.core.db.session import SessionDep
from app.core.deps import ClockDep, SettingsDep

router = APIRouter(prefix=f"{CONSOLE}/billing", include_in_schema=False)

EVENTS_SHOWN = 100


@dataclass(frozen=True)
class Connection:
    name: str
    source: str  # as EventRow.source names it
    path: str  # where its webhook is sent
    env_var: str  # the secret that turns it on
    on: bool
    last: EventRow | None


def _connections(settings: Settings, last: dict[str, EventRow]) -> list[Connection]:
    sources = [
        ("Stripe", "stripe", settings.stripe_webhook_secret),
        ("Memberful", "memberful", settings.memberful_webhook_secret),
        ("Patreon", "patreon", settings.patreon_webhook_secret),
        ("Ghost", "ghost", settings.ghost_webhook_secret),
    ]
    found = [
        Connection(
            name,
            source,
            f"/webhooks/{source}",
            f"PODPASS_{source.upper()}_WEBHOOK_SECRET",
            bool(secret),
            last.get(source),
        )
        for name, source, secret in sources
    ]
    own = billing.OWN_FORMAT
    found.append(
        Connection(
            "Podpass format (your own billing system)",
            own,
            "/webhooks/billing",
            "PODPASS_WEBHOOK_SECRET",
            bool(settings.webhook_secret),
            last.get(own),
        )
    )
    return found


@router.get("", dependencies=SUPPORT)
def billing_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    return render(
        request,
        "billing.html",
        {
            "connections": _connections(settings, billing.last_events(session)),
            "events": billing.recent_events(session, limit=EVENTS_SHOWN),
            "shown": EVENTS_SHOWN,
            "base_url": settings.public_base_url,
            "retention_days": settings.event_retention_days,
        },
    )


@router.post("/events/{event_id}/reapply", dependencies=SUPPORT_FORM)
def reapply(event_id: str, session: SessionDep, clock: ClockDep) -> Response:
    outcome, subscriber = billing.reapply(session, event_id, now=clock())
    to = f" to {subscriber.email}" if subscriber is not None else ""
    return redirect(f"{CONSOLE}/billing", flash=f"Event {event_id} applied again{to}: {outcome}.")
