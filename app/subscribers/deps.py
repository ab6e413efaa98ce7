"""The subscriber a path names, for every route that takes one."""

from typing import Annotated

from fastapi import Depends

from app.core.db.session import SessionDep
from app.core.deps import RowId
from app.models import Subscriber
from app.subscribers import service


def subscriber_by_id(subscriber_id: RowId, session: SessionDep) -> Subscriber:
    return service.get(session, subscriber_id)


SubscriberDep = Annotated[Subscriber, Depends(subscriber_by_id)]
