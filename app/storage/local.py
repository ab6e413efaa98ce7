"""Audio in a local folder: the embedded default."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from app.errors import StorageUnavailable
from app.storage import StoredObject

_PARTIAL_PREFIX = ".partial-"


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

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

    def locate(self, key: str) -> Path:
        return self._path(key)

    def objects(self) -> Iterator[StoredObject]:
        for path in self.root.rglob("*"):
            if path.is_file() and path.name != ".gitignore":
                stat = path.stat()
                yield StoredObject(
                    key=path.relative_to(self.root).as_posix(),
                    size=stat.st_size,
                    modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                )
