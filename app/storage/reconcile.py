"""Storage against the database: what a killed worker or a failed clean-up can leave."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Episode, Show, Welcome
from app.storage import IncompleteUpload, Storage, StoredObject


@dataclass(frozen=True)
class Reconciliation:
    orphans: list[StoredObject]  # stored, but no episode points at them
    missing: list[Episode]  # episodes whose audio is not in storage
    removable: list[StoredObject]  # orphans older than the grace period
    incomplete: list[IncompleteUpload]  # uploads started and not finished
    abortable: list[IncompleteUpload]  # those idle for longer than the grace period

    @property
    def agree(self) -> bool:
        return not (self.orphans or self.missing or self.incomplete)


def reconcile(
    session: Session, storage: Storage, *, grace: timedelta, now: datetime
) -> Reconciliation:
    """Compare storage with the episodes, and list unfinished uploads. Young orphans and
    recently active uploads are left alone: they may belong to an upload still under way."""
    episodes = session.scalars(select(Episode).order_by(Episode.id)).all()
    referenced = {episode.audio_key for episode in episodes}
    referenced |= {e.artwork_key for e in episodes if e.artwork_key}
    referenced |= set(
        session.scalars(select(Show.artwork_key).where(Show.artwork_key.is_not(None)))
    )
    referenced |= set(
        session.scalars(select(Welcome.audio_key).where(Welcome.audio_key.is_not(None)))
    )
    stored = list(storage.objects())
    orphans = [obj for obj in stored if obj.key not in referenced]
    stored_keys = {obj.key for obj in stored}
    incomplete = list(storage.incomplete())
    return Reconciliation(
        orphans=orphans,
        missing=[e for e in episodes if e.audio_key not in stored_keys],
        removable=[obj for obj in orphans if obj.modified < now - grace],
        incomplete=incomplete,
        abortable=[upload for upload in incomplete if upload.modified < now - grace],
    )
