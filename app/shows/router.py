from collections.abc import Sequence

from fastapi import APIRouter, UploadFile

from app.accounts.service import Permission
from app.db import SessionDep
from app.deps import StorageDep, require
from app.models import Show
from app.shows import service
from app.shows.deps import ShowDep, read_image
from app.shows.schemas import ShowCreate, ShowOut, ShowUpdate

router = APIRouter(
    prefix="/admin/shows",
    tags=["shows"],
    dependencies=[require(Permission.SHOWS, reads=Permission.READ_SHOWS)],
)


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


@router.put("/{slug}/artwork")
def set_show_artwork(
    show: ShowDep, image: UploadFile, session: SessionDep, storage: StorageDep
) -> ShowOut:
    """Show artwork: JPEG or PNG, square, 1400 to 3000 px (Apple's rules)."""
    data = read_image(image)
    return ShowOut.model_validate(
        service.set_artwork(session, storage, show, data, image.filename or "the image")
    )
