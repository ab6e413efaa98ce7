"""Artwork: checked and stored. The only module that imports Pillow."""

import io
from dataclasses import dataclass
from uuid import uuid4

from PIL import Image, UnidentifiedImageError
from sqlalchemy.orm import Session

from app.db import after_commit, after_rollback
from app.errors import InvalidInput, UnsupportedMedia
from app.storage import Storage

# Apple's artwork rules: JPEG or PNG, square, 1400 to 3000 pixels a side.
MIN_SIDE, MAX_SIDE = 1400, 3000
_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png")}


@dataclass(frozen=True)
class ArtworkInfo:
    mime: str
    extension: str
    width: int
    height: int


def probe_artwork(data: bytes, filename: str) -> ArtworkInfo:
    """Check that `data` is artwork podcast apps accept; read only the image header."""
    if not data:
        raise InvalidInput(f"{filename} is empty: upload a JPEG or PNG image.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, (width, height) = image.format, image.size
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise UnsupportedMedia(f"{filename} is not a JPEG or PNG image.") from exc
    if kind not in _FORMATS:
        raise UnsupportedMedia(f"{filename} is {kind}; podcast artwork must be JPEG or PNG.")
    if width != height or not MIN_SIDE <= width <= MAX_SIDE:
        raise InvalidInput(
            f"{filename} is {width}x{height} px; podcast artwork must be square, between "
            f"{MIN_SIDE}x{MIN_SIDE} and {MAX_SIDE}x{MAX_SIDE} px."
        )
    mime, extension = _FORMATS[kind]
    return ArtworkInfo(mime, extension, width, height)


def store_artwork(
    session: Session, storage: Storage, data: bytes, filename: str, *, replacing: str | None
) -> str:
    """Check and store podcast artwork; return its key. A new key every time, so apps that
    cache by URL see the change; the replaced image goes once the change commits."""
    info = probe_artwork(data, filename)
    key = f"artwork/{uuid4().hex}.{info.extension}"
    storage.save(key, io.BytesIO(data), info.mime)
    after_rollback(session, lambda: storage.delete(key))
    if replacing:
        after_commit(session, lambda: storage.delete(replacing))
    return key
