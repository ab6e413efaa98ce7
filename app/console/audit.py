"""The console's audit log page: who did what to what, and when, for owners to filter by
action, actor and days, newest first, a page at a time."""

from datetime import date
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response

from app.audit import service as audit
from app.audit.service import Action
from app.console.deps import OWNER
from app.console.pages import render
from app.core.db.session import SessionDep
from app.core.deps import Offset, SettingsDep

router = APIRouter(prefix="/console", include_in_schema=False)

EVENTS_PER_PAGE = 50


# Same shape as the episodes list (console/episodes.py): a page's filters as query
# parameters in FastAPI's idiom; each list its own filters, service and page.
@router.get("/audit", dependencies=OWNER)
def audit_log(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    action: Action | Literal[""] = "",
    actor: Annotated[str, Query(max_length=320)] = "",
    first_day: Annotated[date | Literal[""], Query(alias="from")] = "",
    last_day: Annotated[date | Literal[""], Query(alias="to")] = "",
    target_type: Annotated[str, Query(max_length=32)] = "",
    target_id: Annotated[str, Query(max_length=255)] = "",
    offset: Offset = 0,
) -> Response:
    """`target_type` and `target_id`: one thing's history (each entry's target links there)."""
    filters = audit.day_filters(
        settings.timezone,
        action=action or None,
        actor=actor.strip() or None,
        first_day=first_day or None,
        last_day=last_day or None,
        target_type=target_type or None,
        target_id=target_id or None,
    )
    found = audit.list_some(session, filters, limit=EVENTS_PER_PAGE, offset=offset)
    query = {
        "action": action,
        "actor": actor,
        "from": first_day,
        "to": last_day,
        "target_type": target_type,
        "target_id": target_id,
    }

    def page(at: int) -> str:
        return "?" + urlencode(query | {"offset": at})

    return render(
        request,
        "audit.html",
        {
            "found": found,
            "actions": {a.value: a.value for a in Action},
            "action": action,
            "actor": actor,
            "first_day": first_day,
            "last_day": last_day,
            "target_type": target_type,
            "target_id": target_id,
            "newer": page(max(0, offset - EVENTS_PER_PAGE)) if offset else None,
            "older": page(offset + len(found)) if len(found) == EVENTS_PER_PAGE else None,
        },
    )
