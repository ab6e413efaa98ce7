"""Moving a publisher in: their back catalogue, from their feed.

Each episode is stored in its own transaction, through the upload path (probe, store, and a
stored file removed again if the transaction fails), so a run that is killed or fails leaves
whole episodes or none; a rerun skips GUIDs that are there. The show takes what the feed says
of it (artwork, description, category, people) wherever it has nothing of its own.
"""

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass
from datetime import datetime
from functools import partial
from pathlib import PurePosixPath
from typing import Protocol, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import images
from app.core.clock import Clock
from app.core.db.engine import Database
from app.core.db.session import transaction
from app.core.errors import AppError, InvalidInput, UnsupportedMedia
from app.episodes import service as episodes
from app.episodes.schemas import Chapters, EpisodeUpload
from app.imports import old_urls
from app.imports.schemas import (
    FeedImport,
)
from app.imports.source import (
    FeedError,
    Linked,
    Source,
    SourceCategory,
    SourceChannel,
    SourceEpisode,
    SourceError,
    SourcePerson,
)
from app.models import (
    TRANSCRIPT_TYPES,
    Episode,
    EpisodeType,
    Show,
)
from app.shows import service as shows
from app.shows.schemas import APPLE_CATEGORIES, DEFAULT_CATEGORY, Person, ShowUpdate
from app.storage import Storage
from app.storage.uploads import Upload
from app.text import plain_text

logger = logging.getLogger(__name__)

# Transcript types as feeds announce them, by the extension we store them under.
_TRANSCRIPT_EXTENSIONS = {v: k for k, v in TRANSCRIPT_TYPES.items()} | {
    "application/srt": "srt",
    "text/srt": "srt",
}
_GUIDS_PER_QUERY = 500
_T = TypeVar("_T")


class Progress(Protocol):
    """Told of each episode's download as it goes (the command line draws a bar)."""

    def start(self, title: str, total: int | None) -> None: ...

    def advance(self, size: int) -> None: ...


class NoProgress:
    def start(self, title: str, total: int | None) -> None:
        pass

    def advance(self, size: int) -> None:
        pass


@dataclass(frozen=True)
class Retries:
    """How a fetch that may work next time (a SourceError) is tried again: `attempts` in
    all, `backoff_seconds` apart, doubling each time."""

    attempts: int = 3
    backoff_seconds: float = 2.0
    sleep: Callable[[float], None] = time.sleep

    def run(self, action: Callable[[], _T], what: str) -> _T:
        for attempt in range(1, self.attempts):
            try:
                return action()
            except SourceError as exc:
                logger.warning("%s: %s; trying again", what, exc)
                self.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        try:
            return action()
        except SourceError as exc:
            raise SourceError(f"{exc} (tried {self.attempts} times)") from None


@dataclass(frozen=True)
class _Fetched:
    """Everything an episode needs besides its audio, fetched before its transaction."""

    artwork: bytes | None
    chapters: Chapters | None
    transcript: "_File | None"


@dataclass(frozen=True)
class _File:
    """A file fetched from the old host, and the name its checks call it by."""

    data: bytes
    name: str


def import_feed(
    db: Database,
    storage: Storage,
    source: Source,
    slug: str,
    *,
    public: bool,
    max_bytes: int,
    clock: Clock,
    retries: Retries | None = None,
    progress: Progress | None = None,
) -> FeedImport:
    """Import every episode of the source feed and its archive pages into the show, oldest
    first. `public`: the source is the show's public feed, moving here: its episodes are
    free, and its URL answers with a 301 to the public feed.

    An episode that cannot be fetched now is tried again (`retries`), then reported as
    failed: a rerun tries it again. One that no rerun would import (no enclosure or date,
    a file its host refuses for good, audio the upload checks refuse) is left out.

    A `clock`, not a time: the import runs for as long as its downloads take, and each of
    its transactions is stamped with the time it commits at."""
    retries = retries or Retries()
    report = FeedImport()
    channel_artwork: set[str] = set()
    items: dict[str, SourceEpisode] = {}
    pages = source.pages()
    feed = next(pages)  # the feed itself, before its archive pages: the show as it is now
    for page in (feed, *pages):
        if page.artwork:
            channel_artwork.add(page.artwork)
        for item in page.episodes:
            items.setdefault(item.guid, item)
    with transaction(db.reader) as session:
        has_artwork = shows.get(session, slug).artwork_key is not None
    artwork = None
    if feed.artwork and not has_artwork:
        artwork = _fetch_show_artwork(source, slug, feed.artwork, retries, report)
    with transaction(db.writer) as session:
        show, now = shows.get(session, slug), clock()
        if public:
            old_urls.public_feed_moved(session, show, source.public_url, now=now)
        _adopt_channel(session, storage, show, feed.channel, artwork, report, now=now)
        owners = _guid_owners(session, list(items))
    wanted = []
    for guid, item in items.items():
        owner = owners.get(guid)
        if owner == show.id:
            report.skipped.append(_named(item))
        elif owner is not None:
            report.left_out.append(f"{_named(item)}: its GUID is another show's episode here")
        elif item.published_at is None:
            report.left_out.append(f"{_named(item)}: no publication date (pubDate)")
        elif item.audio is None:
            report.left_out.append(f"{_named(item)}: no enclosure (no audio to import)")
        else:
            wanted.append(item)
    wanted.sort(key=lambda item: (item.published_at, item.guid))
    for item in wanted:
        attempt = partial(
            _import_episode,
            db,
            storage,
            source,
            slug,
            item,
            free=public,
            max_bytes=max_bytes,
            skip_artwork=channel_artwork,
            progress=progress or NoProgress(),
            clock=clock,
        )
        try:
            notes = retries.run(attempt, _named(item))
        except SourceError as exc:
            report.failed.append(f"{_named(item)}: {exc}")
        except (FeedError, AppError) as exc:
            report.left_out.append(f"{_named(item)}: {getattr(exc, 'detail', exc)}")
        else:
            report.imported.append(_named(item))
            report.notes.extend(notes)
    return report


def _fetch_show_artwork(
    source: Source, slug: str, url: str, retries: Retries, report: FeedImport
) -> _File | None:
    try:
        data = retries.run(partial(source.fetch, url), "the show's artwork")
        return _File(data, _filename(url, "artwork"))
    except SourceError as exc:
        report.failed.append(f"the show's artwork: {exc}")
    except FeedError as exc:
        report.notes.append(_artwork_left_out(slug, str(exc)))
    return None


def _artwork_left_out(slug: str, why: str) -> str:
    return (
        f"the show's artwork was left out: {why.rstrip('.')}. Apple refuses a feed without "
        f"artwork: upload one (PUT /admin/shows/{slug}/artwork)."
    )


def _adopt_channel(
    session: Session,
    storage: Storage,
    show: Show,
    channel: SourceChannel,
    artwork: _File | None,
    report: FeedImport,
    *,
    now: datetime,
) -> None:
    """The show's artwork (through the upload's checks), description, category and people,
    from the feed: each only where the show has none of its own."""
    if channel.unreadable:
        report.notes.append(f"the show's description, category and people: {channel.unreadable}")
    changes: dict[str, object] = {}
    taken = []
    description = plain_text(channel.description)
    if description and not show.description.strip():
        changes["description"] = description
        taken.append("description")
    defaults = (show.category, show.subcategory) == (DEFAULT_CATEGORY, None)
    if defaults and (category := _apple_category(channel.categories, report)):
        changes |= {"category": category.name, "subcategory": category.subcategory}
        taken.append(f"category ({'/'.join(filter(None, astuple(category)))})")
    if not show.people and (people := _people(channel.people, report)):
        changes["people"] = people
        taken.append(f"{len(people)} people")
    if changes:
        shows.update(session, show, ShowUpdate.model_validate(changes), now=now)
    if artwork is not None and show.artwork_key is None:
        try:
            shows.set_artwork(session, storage, show, artwork.data, artwork.name, now=now)
            taken.insert(0, "artwork")
        except images.REFUSALS as exc:
            report.notes.append(_artwork_left_out(show.slug, exc.detail))
    if taken:
        report.notes.append(f"from the feed, the show's {', '.join(taken)}")


def _apple_category(
    categories: Sequence[SourceCategory], report: FeedImport
) -> SourceCategory | None:
    """The feed's first Apple category, with its subcategory if Apple has it there."""
    for category in categories:
        subcategories = APPLE_CATEGORIES.get(category.name)
        if subcategories is not None:
            sub = category.subcategory if category.subcategory in subcategories else None
            return SourceCategory(category.name, sub)
    if categories:
        names = ", ".join(repr(category.name) for category in categories)
        report.notes.append(f"the feed's category ({names}) is none of Apple's categories")
    return None


def _people(people: Sequence[SourcePerson], report: FeedImport) -> list[Person]:
    """The feed's podcast:person elements as the show keeps them: role and group are
    case-insensitive (the namespace says so), and lower-case here."""
    kept = []
    for person in people:
        try:
            kept.append(
                Person.model_validate(
                    {
                        "name": person.name,
                        "role": (person.role or "host").lower(),
                        "group": person.group.lower() if person.group else None,
                        "href": person.href,
                        "img": person.img,
                    }
                )
            )
        except ValidationError as exc:
            problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            report.notes.append(f"podcast:person {person.name!r} was left out: {problems}")
    return kept


def _named(item: SourceEpisode) -> str:
    return f"{item.title or 'untitled'!r} ({item.guid})"


def _guid_owners(session: Session, guids: Sequence[str]) -> dict[str, int]:
    owners: dict[str, int] = {}
    for start in range(0, len(guids), _GUIDS_PER_QUERY):
        chunk = guids[start : start + _GUIDS_PER_QUERY]
        query = select(Episode.guid, Episode.show_id).where(Episode.guid.in_(chunk))
        owners.update({guid: show_id for guid, show_id in session.execute(query)})
    return owners


def _fields(item: SourceEpisode, *, free: bool) -> EpisodeUpload:
    episode_type = item.episode_type if item.episode_type in set(EpisodeType) else None
    try:
        return EpisodeUpload(
            title=item.title or None,
            show_notes=item.show_notes or None,
            free=free,
            episode_type=episode_type,
            season=item.season,
            number=item.number,
            explicit=item.explicit,
            publish=True,
            published_at=item.published_at,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(problems) from None


def _filename(url: str, fallback: str) -> str:
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    return name or fallback


def _fetch_extras(
    source: Source, item: SourceEpisode, notes: list[str], skip_artwork: set[str]
) -> _Fetched:
    """The episode's artwork, chapters and transcript. One its host refuses for good is left
    out and noted; one that may come next time (a SourceError) fails the attempt."""

    def fetch(url: str, what: str) -> bytes | None:
        try:
            return source.fetch(url)
        except FeedError as exc:
            notes.append(f"{_named(item)}: {what} left out: {exc}")
            return None

    artwork = None
    if item.artwork and item.artwork not in skip_artwork:
        artwork = fetch(item.artwork, "artwork")
    chapters = None
    if item.chapters and (data := fetch(item.chapters.url, "chapters")) is not None:
        try:
            chapters = Chapters.model_validate_json(data)
        except ValidationError:
            notes.append(f"{_named(item)}: its chapters are not Podcasting 2.0 JSON")
    transcript = None
    usable = [t for t in item.transcripts if _transcript_extension(t)]
    if usable and (data := fetch(usable[0].url, "transcript")) is not None:
        transcript = _File(data, f"transcript.{_transcript_extension(usable[0])}")
    elif item.transcripts and not usable:
        notes.append(f"{_named(item)}: no transcript in a type kept here (VTT, SRT, text)")
    return _Fetched(artwork, chapters, transcript)


def _transcript_extension(linked: Linked) -> str | None:
    return _TRANSCRIPT_EXTENSIONS.get(linked.type.split(";")[0].strip().lower())


def _import_episode(
    db: Database,
    storage: Storage,
    source: Source,
    slug: str,
    item: SourceEpisode,
    *,
    free: bool,
    max_bytes: int,
    skip_artwork: set[str],
    progress: Progress,
    clock: Clock,
) -> list[str]:
    """One attempt at one episode; its notes (the parts left out) once it is stored."""
    assert item.audio is not None, "an item without an enclosure is left out before"
    notes: list[str] = []
    fields = _fields(item, free=free)
    extras = _fetch_extras(source, item, notes, skip_artwork)
    # An unnamed temporary file: a run killed mid-download leaves nothing behind.
    with tempfile.TemporaryFile() as audio:
        progress.start(item.title or item.guid, None)
        size = source.download(item.audio.url, audio, progress.advance)
        with transaction(db.writer) as session:
            now = clock()
            upload = Upload(audio, size, _filename(item.audio.url, "episode.mp3"), max_bytes)
            episode = episodes.upload(session, storage, slug, upload, fields=fields, now=now)
            episode.guid = item.guid
            _attach(session, storage, episode, item, extras, notes, now=now)
            session.flush()
    return notes


def _attach(
    session: Session,
    storage: Storage,
    episode: Episode,
    item: SourceEpisode,
    extras: _Fetched,
    notes: list[str],
    *,
    now: datetime,
) -> None:
    """The episode's artwork, chapters and transcript; one that is unusable is left out and
    noted, as the upload path does with unusable embedded artwork."""
    if extras.chapters is not None:
        episodes.set_chapters(session, episode, extras.chapters, now=now)
    try:
        if extras.artwork is not None:
            filename = _filename(item.artwork or "", "artwork")
            episodes.set_artwork(session, storage, episode, extras.artwork, filename, now=now)
    except images.REFUSALS as exc:
        notes.append(f"{_named(item)}: artwork left out: {exc.detail}")
    try:
        if extras.transcript is not None:
            transcript = extras.transcript
            episodes.set_transcript(session, episode, transcript.data, transcript.name, now=now)
    except (InvalidInput, UnsupportedMedia) as exc:
        notes.append(f"{_named(item)}: transcript left out: {exc.detail}")
