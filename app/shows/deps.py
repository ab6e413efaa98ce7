"""Path resources and uploads the show and episode routes share."""

from typing import Annotated

from fastapi import Depends, UploadFile

from app.core.db.session import SessionDep
from app.core.errors import PayloadTooLarge
from app.models import Show
from app.shows import service


def show_by_slug(slug: str, session: SessionDep) -> Show:
    return service.get(session, slug)


ShowDep = Annotated[Show, Depends(show_by_slug)]

MAX_ARTWORK_BYTES = 20 * 1024 * 1024


def read_image(image: UploadFile) -> bytes:
    data = image.file.read(MAX_ARTWORK_BYTES + 1)
    if len(data) > MAX_ARTWORK_BYTES:
        raise PayloadTooLarge(
            "Artwork over 20 MB is more than any podcast app wants; "
            "a 3000x3000 JPEG is usually under 2 MB."
        )
    return data
