from typing import Annotated

from fastapi import APIRouter, Query

from app.accounts.deps import require
from app.accounts.service import Permission
from app.core.db.schema import MAX_ROW_ID
from app.core.db.session import SessionDep
from app.core.deps import ClockDep, Limit, Offset, TokensDep, UrlsDep
from app.models import AlertStatus
from app.sharing import service
from app.sharing.deps import AlertDep
from app.sharing.schemas import AlertOut, RotatedAlert

router = APIRouter(
    prefix="/admin/sharing", tags=["sharing"], dependencies=[require(Permission.SUBSCRIBERS)]
)


@router.get("/alerts")
def list_alerts(
    session: SessionDep,
    status: Annotated[list[AlertStatus] | None, Query()] = None,
    subscriber_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[AlertOut]:
    """Feed URLs that look shared, newest first: open ones unless `status` (repeatable)
    says otherwise."""
    found = service.list_some(
        session,
        statuses=status or [AlertStatus.OPEN],
        subscriber_id=subscriber_id,
        limit=limit,
        offset=offset,
    )
    return [AlertOut.model_validate(alert) for alert in found]


# Same shape as the read and update routes of episodes/router.py and shows/router.py:
# each resource's own dependency, schema and service, in FastAPI's one-line idiom.
@router.get("/alerts/{alert_id}")
def read_alert(alert: AlertDep) -> AlertOut:
    return AlertOut.model_validate(alert)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge_alert(alert: AlertDep, session: SessionDep, clock: ClockDep) -> AlertOut:
    """Seen, and the URL kept: the alert leaves the open list; detection keeps its evidence
    current instead of opening another for the same URL. A rotated alert stays rotated."""
    return AlertOut.model_validate(service.acknowledge(session, alert, now=clock()))


@router.post("/alerts/{alert_id}/rotate")
def rotate_alert(
    alert: AlertDep, session: SessionDep, clock: ClockDep, tokens: TokensDep, urls: UrlsDep
) -> RotatedAlert:
    """Give the subscriber a new URL for the show (the shared one stops working at once) and
    close the alert. Rotating a rotated alert again changes nothing and answers the URL."""
    feed = service.rotate(session, alert, now=clock())
    return RotatedAlert(
        **AlertOut.model_validate(alert).model_dump(),
        feed_url=urls.feed(tokens.token_for(feed.token_id)),
    )
