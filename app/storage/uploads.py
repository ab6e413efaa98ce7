"""Storing what a publisher uploads, in the request's transaction: checked first (by the
audio and image adapters), stored under a new key (so apps that cache by URL see the change),
removed again if the transaction fails, and the file it replaces removed once it commits.

Audio is stored before the transaction's first query: on SQLite that query opens the write
transaction, and copying a large file must not hold the database's write lock."""

import io
from dataclasses import dataclass
from typing import Annotated, BinaryIO
from uuid import uuid4

from fastapi import Depends, UploadFile
from sqlalchemy.orm import Session

from app import audio, images
from app.core.db.session import after_commit, after_rollback
from app.core.deps import SettingsDep
from app.storage import Storage


@dataclass(frozen=True)
class Upload:
    """An uploaded recording as it arrived (or as an import downloaded it), and the most it
    may weigh."""

    source: BinaryIO
    size: int
    filename: str
    max_bytes: int


def _posted_audio(audio: UploadFile, settings: SettingsDep) -> Upload:
    """The multipart field `audio`, within PODPASS_MAX_UPLOAD_MB."""
    return Upload(
        audio.file, audio.size or 0, audio.filename or "the upload", settings.max_upload_bytes
    )


PostedAudio = Annotated[Upload, Depends(_posted_audio)]


def _keep(
    session: Session, storage: Storage, key: str, source: BinaryIO, mime: str, replacing: str | None
) -> str:
    storage.save(key, source, mime)
    after_rollback(session, lambda: storage.delete(key))
    if replacing:
        after_commit(session, lambda: storage.delete(replacing))
    return key


def store_audio(
    session: Session,
    storage: Storage,
    folder: str,
    upload: Upload,
    *,
    replacing: str | None = None,
) -> tuple[str, audio.AudioInfo]:
    """Check and store an episode's or a welcome's audio under `folder/`; its key and what
    the audio says of itself."""
    info = audio.probe_upload(
        upload.source, upload.size, upload.filename, max_bytes=upload.max_bytes
    )
    key = f"{folder}/{uuid4().hex}.{info.extension}"
    return _keep(session, storage, key, upload.source, info.mime, replacing), info


def store_artwork(
    session: Session, storage: Storage, data: bytes, filename: str, *, replacing: str | None
) -> str:
    """Check and store podcast artwork; its key."""
    info = images.probe_artwork(data, filename)
    key = f"artwork/{uuid4().hex}.{info.extension}"
    return _keep(session, storage, key, io.BytesIO(data), info.mime, replacing)
