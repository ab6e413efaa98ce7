"""Audio in a local folder: the embedded default."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from app.core.errors import StorageUnavailable
from app.storage import IncompleteUpload, StoredObject

# Uploads are written to a temporary file beside the target and renamed into place, so a
# reader never sees half a file; a worker killed mid-write leaves the temporary file.
_PARTIAL_PREFIX = ".partial-"


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        # Where each key's file is, checked once per key: resolving a path takes a system
        # call per folder in it, 14% of an enclosure request's time (keys never change).
        self._located = lru_cache(maxsize=4096)(self._path)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"storage key escapes the audio folder: {key!r}")
        return path

    def save(self, key: str, source: BinaryIO, content_type: str) -> None:
        target = self._path(key)
        partial: str | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, partial = tempfile.mkstemp(prefix=_PARTIAL_PREFIX, dir=target.parent)
            with os.fdopen(fd, "wb") as out:
                source.seek(0)
                shutil.copyfileobj(source, out, 1024 * 1024)
            os.replace(partial, target)
        except OSError as exc:
            if partial is not None:
                Path(partial).unlink(missing_ok=True)
            raise StorageUnavailable(
                f"Could not write the audio to {self.root}: {exc.strerror or exc}. "
                "Nothing was saved; free space or fix permissions and upload again."
            ) from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def locate(self, key: str, disposition: str | None = None) -> Path:
        return self._located(key)

    def objects(self) -> Iterator[StoredObject]:
        for path in self.root.rglob("*"):
            if path.is_file() and path.name != ".gitignore" and not _is_partial(path):
                stat = path.stat()
                yield StoredObject(
                    key=self._key(path),
                    size=stat.st_size,
                    modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                )

    def incomplete(self) -> Iterator[IncompleteUpload]:
        for path in self.root.rglob(f"{_PARTIAL_PREFIX}*"):
            if path.is_file():
                stat = path.stat()
                yield IncompleteUpload(
                    key=self._key(path),
                    upload_id=None,
                    parts=None,
                    size=stat.st_size,
                    modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                )

    def abort(self, upload: IncompleteUpload) -> None:
        path = self._path(upload.key)
        if not _is_partial(path):
            raise ValueError(f"not an unfinished upload: {upload.key!r}")
        path.unlink(missing_ok=True)

    def _key(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def _is_partial(path: Path) -> bool:
    return path.name.startswith(_PARTIAL_PREFIX)
