from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends

from app.db import SessionDep
from app.deps import AdminDep
from app.models import Show
from app.shows import service
from app.shows.schemas import ShowCreate, ShowOut, ShowUpdate

router = APIRouter(prefix="/admin/shows", tags=["shows"], dependencies=[AdminDep])


def show_by_slug(slug: str, session: SessionDep) -> Show:
    return service.get(session, slug)


ShowDep = Annotated[Show, Depends(show_by_slug)]


@router.post("", status_code=201)
def create_show(data: ShowCreate, session: SessionDep) -> ShowOut:
    return ShowOut.model_validate(service.create(session, data))


@router.get("")
def list_shows(session: SessionDep) -> list[ShowOut]:
    shows: Sequence[Show] = service.list_all(session)
    return [ShowOut.model_validate(show) for show in shows]


@router.get("/{slug}")
def read_show(show: ShowDep) -> ShowOut:
    return ShowOut.model_validate(show)


@router.patch("/{slug}")
def update_show(show: ShowDep, data: ShowUpdate, session: SessionDep) -> ShowOut:
    return ShowOut.model_validate(service.update(session, show, data))
