"""The sharing alert a path names, for every route that takes one (the admin API's and the
console's)."""

from typing import Annotated

from fastapi import Depends

from app.core.db.session import SessionDep
from app.core.deps import RowId
from app.models import SharingAlert
from app.sharing import service


def alert_by_id(alert_id: RowId, session: SessionDep) -> SharingAlert:
    return service.get(session, alert_id)


AlertDep = Annotated[SharingAlert, Depends(alert_by_id)]
