"""Where audio lives. One back end is chosen at start-up from the settings."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, BinaryIO, Protocol

from app.core.deps import built


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class IncompleteUpload:
    """An upload that was started and never finished: a killed worker leaves these behind."""

    key: str  # the object's key (S3), or the temporary file's (local)
    upload_id: str | None  # the S3 multipart upload id; a local file has none
    parts: int | None  # the parts stored so far (S3)
    size: int  # bytes stored so far
    modified: datetime  # the last sign of life: the newest part, or the start


class Storage(Protocol):
    def save(self, key: str, source: BinaryIO, content_type: str) -> None:
        """Store `source` under a new key; raise StorageUnavailable and leave nothing behind
        if that fails."""

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""

    def locate(self, key: str, disposition: str | None = None) -> Path | str:
        """A local file to serve, or a short-lived URL to redirect the client to (one that
        answers with this Content-Disposition, if given)."""

    def objects(self) -> Iterator[StoredObject]:
        """Every stored object, for reconciliation."""

    def incomplete(self) -> Iterator[IncompleteUpload]:
        """Every upload that was started and not finished, live or abandoned."""

    def abort(self, upload: IncompleteUpload) -> None:
        """Discard an unfinished upload and what it stored; a finished or already discarded
        upload is not an error."""


StorageDep = Annotated[Storage, built("storage")]
