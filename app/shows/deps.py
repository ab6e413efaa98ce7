"""Path resources and uploads the show and episode routes share."""

from typing import Annotated

from fastapi import Depends, UploadFile

from app import images
from app.core.db.session import SessionDep
from app.models import Show
from app.shows import service


def show_by_slug(slug: str, session: SessionDep) -> Show:
    return service.get(session, slug)


ShowDep = Annotated[Show, Depends(show_by_slug)]


def read_image(image: UploadFile) -> bytes:
    """The upload, read no further than just past the size that images.probe_artwork (the
    check every artwork goes through) refuses."""
    data: bytes = image.file.read(images.MAX_BYTES + 1)
    return data
