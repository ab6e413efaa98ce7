"""Where audio lives. One back end is chosen at start-up from the settings."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime


class Storage(Protocol):
    def save(self, key: str, source: BinaryIO, content_type: str) -> None:
        """Store `source` under a new key; raise StorageUnavailable and leave nothing behind
        if that fails."""

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""

    def locate(self, key: str) -> Path | str:
        """A local file to serve, or a short-lived URL to redirect the client to."""

    def objects(self) -> Iterator[StoredObject]:
        """Every stored object, for reconciliation."""
