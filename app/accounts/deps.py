"""Staff accounts in paths: the admin API's and the console's account routes share them."""

from typing import Annotated

from fastapi import Depends

from app.accounts import service
from app.core.db import SessionDep
from app.core.deps import RowId
from app.models import StaffUser


def path_user(session: SessionDep, user_id: RowId) -> StaffUser:
    return service.get_user(session, user_id)


UserDep = Annotated[StaffUser, Depends(path_user)]
