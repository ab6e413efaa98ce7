import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy import Select, func, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from app import audio, images
from app.audit import service as audit
from app.audit.service import Action
from app.core.db.session import after_commit, get_by_id
from app.core.errors import InvalidInput, UnsupportedMedia
from app.episodes.schemas import Chapters, EpisodeFields, EpisodeUpload, PublishRequest
from app.models import TRANSCRIPT_TYPES, Episode, EpisodeKind, EpisodeStatus, Show
from app.outbox import announcements
from app.shows import service as shows
from app.storage import Storage, uploads
from app.text import strip_unrepresentable

logger = logging.getLogger(__name__)


def get(session: Session, episode_id: int) -> Episode:
    return get_by_id(session, Episode, episode_id, "episode")


# Drafts (no date yet) first, then the newest.
_AS_LISTED = (Episode.published_at.desc().nulls_first(), Episode.id.desc())


def list_for_show(session: Session, show: Show) -> Sequence[Episode]:
    return session.scalars(
        select(Episode).where(Episode.show_id == show.id).order_by(*_AS_LISTED)
    ).all()


class EpisodeState(StrEnum):
    """What the console lists an episode as: a draft, or published and out, or published
    with a date still to come."""

    DRAFT = "draft"
    PUBLISHED = "published"
    SCHEDULED = "scheduled"


def search(
    session: Session,
    show: Show,
    *,
    title: str = "",
    state: EpisodeState | None = None,
    kind: EpisodeKind | None = None,
    now: datetime,
    limit: int,
    offset: int,
) -> Sequence[Episode]:
    """list_for_show(), in its order, narrowed: a title containing `title` (any case), a
    state as of `now`, a kind."""
    query = select(Episode).where(Episode.show_id == show.id)
    if title.strip():
        query = query.where(Episode.title.icontains(title.strip(), autoescape=True))
    if state is EpisodeState.DRAFT:
        query = query.where(Episode.status == EpisodeStatus.DRAFT)
    elif state is EpisodeState.PUBLISHED:
        query = query.where(Episode.status == EpisodeStatus.PUBLISHED, Episode.published_at <= now)
    elif state is EpisodeState.SCHEDULED:
        query = query.where(Episode.status == EpisodeStatus.PUBLISHED, Episode.published_at > now)
    if kind is not None:
        query = query.where(Episode.kind == kind)
    return session.scalars(query.order_by(*_AS_LISTED).limit(limit).offset(offset)).all()


# What an update clears when it gives null (as the console does for an emptied field); any
# other field given null keeps its value. Show notes cleared are empty, not null.
_CLEARABLE = frozenset({"show_notes", "article_url", "article_text", "season", "number"})


def _field_values(fields: EpisodeFields) -> dict[str, object]:
    given = fields.model_dump(exclude={"publish", "published_at"}, exclude_unset=True, mode="json")
    values = {
        name: value for name, value in given.items() if value is not None or name in _CLEARABLE
    }
    if "show_notes" in values and values["show_notes"] is None:
        values["show_notes"] = ""
    return values


def upload(
    session: Session,
    storage: Storage,
    slug: str,
    upload: uploads.Upload,
    *,
    fields: EpisodeUpload,
    now: datetime,
) -> Episode:
    key, info = uploads.store_audio(session, storage, "episodes", upload)
    title = fields.title or info.title
    if not title:
        raise InvalidInput(f"{upload.filename} has no title tag: send a title field.")
    show = shows.get(session, slug)
    episode = Episode(
        show_id=show.id,
        **(_field_values(fields) | {"title": title}),
        audio_key=key,
        audio_mime=info.mime,
        audio_size=upload.size,
        audio_offset=info.audio_offset,
        duration_seconds=info.duration_seconds,
        bitrate=info.bitrate,
        chapters=_chapters_json(info.chapters),
        artwork_key=_embedded_artwork(session, storage, info.cover, upload.filename),
    )
    session.add(episode)
    if fields.publish or fields.published_at is not None:
        _publish(episode, fields.published_at, now)
        shows.touch(show, now=now)
    session.flush()
    audit.record(session, Action.EPISODE_UPLOAD, episode, {"file": upload.filename})
    if episode.status == EpisodeStatus.PUBLISHED:
        audit.record(session, Action.EPISODE_PUBLISH, episode, _when(episode))
        announcements.episode_published(session, episode, now)
    return episode


def replace_audio(
    session: Session,
    storage: Storage,
    episode_id: int,
    upload: uploads.Upload,
    *,
    now: datetime,
) -> Episode:
    """A corrected recording for the same episode: its GUID kept (apps see the same episode)
    and a new enclosure URL (apps that downloaded it fetch the new file). The new file is
    checked and stored first; the old one goes only once the change commits, and the new one
    if it does not (uploads.store_audio). Chapters in the new file replace the episode's; a
    file without any keeps them. (The episode is read after the file is stored, as upload()
    reads its show: see uploads.py.)"""
    key, info = uploads.store_audio(session, storage, "episodes", upload)
    episode = get(session, episode_id)
    replaced = episode.audio_key
    after_commit(session, lambda: storage.delete(replaced))
    episode.audio_key = key
    episode.audio_mime = info.mime
    episode.audio_size = upload.size
    episode.audio_offset = info.audio_offset
    episode.duration_seconds = info.duration_seconds
    episode.bitrate = info.bitrate
    episode.audio_version += 1
    if info.chapters:
        episode.chapters = _chapters_json(info.chapters)
    _changed(session, episode, in_feeds=episode.status == EpisodeStatus.PUBLISHED, now=now)
    audit.record(session, Action.EPISODE_REPLACE_AUDIO, episode, {"file": upload.filename})
    return episode


def _chapters_json(chapters: Sequence[audio.Chapter]) -> dict[str, Any] | None:
    if not chapters:
        return None
    return {
        "version": "1.2.0",
        "chapters": [{"startTime": round(c.start_seconds, 3), "title": c.title} for c in chapters],
    }


def _embedded_artwork(
    session: Session, storage: Storage, cover: bytes | None, filename: str
) -> str | None:
    """The file's own cover art, if podcast apps would accept it; otherwise none (an
    unusable embedded picture is no reason to refuse the episode)."""
    if cover is None:
        return None
    try:
        return uploads.store_artwork(
            session, storage, cover, f"the cover art in {filename}", replacing=None
        )
    except images.REFUSALS as exc:
        logger.info("ignoring embedded artwork: %s", exc.detail)
        return None


def set_artwork(
    session: Session,
    storage: Storage,
    episode: Episode,
    data: bytes,
    filename: str,
    *,
    now: datetime,
) -> Episode:
    episode.artwork_key = uploads.store_artwork(
        session, storage, data, filename, replacing=episode.artwork_key
    )
    _changed(session, episode, in_feeds=episode.status == EpisodeStatus.PUBLISHED, now=now)
    audit.record(session, Action.EPISODE_UPDATE, episode, {"fields": ["artwork"]})
    return episode


def set_chapters(
    session: Session, episode: Episode, chapters: Chapters, *, now: datetime
) -> Episode:
    episode.chapters = chapters.model_dump(mode="json", by_alias=True, exclude_none=True)
    _changed(session, episode, in_feeds=episode.status == EpisodeStatus.PUBLISHED, now=now)
    audit.record(session, Action.EPISODE_UPDATE, episode, {"fields": ["chapters"]})
    return episode


def set_transcript(
    session: Session, episode: Episode, data: bytes, filename: str, *, now: datetime
) -> Episode:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in TRANSCRIPT_TYPES:
        raise UnsupportedMedia(f"{filename}: upload a transcript as .vtt, .srt or .txt.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{filename} is not UTF-8 text.") from exc
    if not text.strip():
        raise InvalidInput(f"{filename} is empty.")
    if extension == "vtt" and not text.lstrip().startswith("WEBVTT"):
        raise InvalidInput(f"{filename} is not WebVTT: it must begin with WEBVTT.")
    if extension in ("vtt", "srt") and "-->" not in text:
        raise InvalidInput(f"{filename} has no cue timings (00:00:01.000 --> 00:00:04.000).")
    episode.transcript = strip_unrepresentable(text)
    episode.transcript_type = TRANSCRIPT_TYPES[extension]
    _changed(session, episode, in_feeds=episode.status == EpisodeStatus.PUBLISHED, now=now)
    audit.record(session, Action.EPISODE_UPDATE, episode, {"fields": ["transcript"]})
    return episode


def update(session: Session, episode: Episode, fields: EpisodeFields, *, now: datetime) -> Episode:
    values = _field_values(fields)
    kind = values.get("kind", episode.kind)
    if kind == EpisodeKind.ARTICLE and not values.get("article_url", episode.article_url):
        raise InvalidInput("An article narration needs article_url (the post it reads).")
    for name, value in values.items():
        setattr(episode, name, value)
    _changed(session, episode, in_feeds=episode.status == EpisodeStatus.PUBLISHED, now=now)
    audit.record(session, Action.EPISODE_UPDATE, episode, {"fields": sorted(values)})
    return episode


# pubDate is an RFC 2822 date, with a four-digit year, and apps sort episodes by it: a year
# typed wrong (1 for 2026, 9999) is refused rather than written into every feed.
EARLIEST_PUBLICATION = datetime(1900, 1, 1, tzinfo=UTC)
FURTHEST_SCHEDULE = timedelta(days=3653)  # ten years


def _publish(episode: Episode, at: datetime | None, now: datetime) -> None:
    if at is not None and not EARLIEST_PUBLICATION <= at <= now + FURTHEST_SCHEDULE:
        raise InvalidInput(
            f"{at.date().isoformat()} is not a publication date: it must be after 1900 and "
            "less than ten years ahead. Check the year."
        )
    episode.status = EpisodeStatus.PUBLISHED
    if at is not None:
        episode.published_at = at
    elif episode.published_at is None:
        episode.published_at = now


def publish(
    session: Session, episode: Episode, request: PublishRequest, *, now: datetime
) -> Episode:
    _publish(episode, request.published_at, now)
    _changed(session, episode, in_feeds=True, now=now)
    audit.record(session, Action.EPISODE_PUBLISH, episode, _when(episode))
    announcements.episode_published(session, episode, now)
    return episode


def _when(episode: Episode) -> dict[str, str | None]:
    at = episode.published_at
    return {"published_at": at.isoformat() if at else None}


def unpublish(session: Session, episode: Episode, *, now: datetime) -> Episode:
    was_published = episode.status == EpisodeStatus.PUBLISHED
    episode.status = EpisodeStatus.DRAFT
    _changed(session, episode, in_feeds=was_published, now=now)
    audit.record(session, Action.EPISODE_UNPUBLISH, episode)
    if was_published:
        announcements.episode_withdrawn(session, episode)
    return episode


def delete(session: Session, storage: Storage, episode: Episode, *, now: datetime) -> None:
    """For good: its files (audio and artwork) go once the deletion commits. Its GUID goes
    with the row; apps that downloaded it keep their copy until they drop it."""
    keys = [key for key in (episode.audio_key, episode.artwork_key) if key]
    audit.record(session, Action.EPISODE_DELETE, episode)
    session.delete(episode)
    if episode.status == EpisodeStatus.PUBLISHED:
        _touch_show(session, episode.show_id, now)
    session.flush()
    for key in keys:
        after_commit(session, partial(storage.delete, key))


def _changed(session: Session, episode: Episode, *, in_feeds: bool, now: datetime) -> None:
    """Record a change; `in_feeds` when the show's feeds show it (drafts leave them be, so
    pollers keep getting 304s)."""
    episode.updated_at = now
    if in_feeds:
        _touch_show(session, episode.show_id, now)
    session.flush()


def _touch_show(session: Session, show_id: int, now: datetime) -> None:
    shows.touch(session.get_one(Show, show_id), now=now)


def _listed(show_id: int, *, free_only: bool) -> Select[Episode]:
    query = select(Episode).where(
        Episode.show_id == show_id, Episode.status == EpisodeStatus.PUBLISHED
    )
    return query.where(Episode.free.is_(True)) if free_only else query


def visible(
    session: Session, show_id: int, *, now: datetime, free_only: bool, limit: int | None = None
) -> list[Episode]:
    """The show's episodes out by `now` (only the free ones, for the public side), newest
    first: what its feeds carry and its page lists."""
    query = (
        _listed(show_id, free_only=free_only)
        .where(Episode.published_at <= now)
        .order_by(Episode.published_at.desc(), Episode.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


class Listed(NamedTuple):
    """An episode as a feed lists it, without its content: enough to tell which of a
    feed's kept items are still current (every change to an episode sets updated_at)."""

    id: int
    # updated_at as the driver returns it: only compared, so not converted (at 20,000
    # episodes, converting costs a republish 35 ms).
    version: object


def visible_listed(
    session: Session, show_id: int, *, now: datetime, free_only: bool
) -> list[Listed]:
    """visible()'s episodes, in its order, without their content."""
    query = (
        _listed(show_id, free_only=free_only)
        .where(Episode.published_at <= now)
        .order_by(Episode.published_at.desc(), Episode.id.desc())
        .with_only_columns(Episode.id, type_coerce(Episode.updated_at, NullType()))
    )
    return [Listed(row_id, version) for row_id, version in session.execute(query)]


def visible_dates(session: Session, show_id: int, *, now: datetime) -> list[datetime]:
    """The publication dates of a subscriber's feed's episodes, newest first (date-based
    back catalogues count them)."""
    query = (
        _listed(show_id, free_only=False)
        .where(Episode.published_at <= now)
        .order_by(Episode.published_at.desc(), Episode.id.desc())
        .with_only_columns(Episode.published_at)
    )
    return [moment for moment in session.scalars(query) if moment is not None]


def get_many(session: Session, ids: Sequence[int]) -> dict[int, Episode]:
    """Episodes by id (those that exist), in batches the databases' parameter limits allow."""
    found: dict[int, Episode] = {}
    for start in range(0, len(ids), 1000):
        batch = ids[start : start + 1000]
        found.update(
            (e.id, e) for e in session.scalars(select(Episode).where(Episode.id.in_(batch)))
        )
    return found


def next_publication(
    session: Session, show_id: int, *, now: datetime, free_only: bool
) -> datetime | None:
    """When the next scheduled episode comes out, if one is scheduled."""
    query = _listed(show_id, free_only=free_only).where(Episode.published_at > now)
    return session.scalar(query.with_only_columns(func.min(Episode.published_at)))
