"""The hot serving path: resolve a token, hand out a prepared feed, authorise audio.

A show's feed is rendered once per show version (and once more when a scheduled episode
comes due), with a placeholder where each subscriber's token goes. A request costs one
indexed query plus a byte substitution; revocation is never cached.
"""

import gzip
import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from app.db import Database, HotQuery, transaction
from app.errors import Forbidden, Gone, NotFound
from app.feeds.render import FeedLinks, render_feed, render_inactive
from app.feeds.splice import SplicedGzip, build_spliced
from app.models import Episode, EpisodeStatus, FeedAccess, Show, Subscriber, SubscriberStatus
from app.storage import Storage
from app.tokens import TOKEN_LENGTH, FeedTokens

NOT_IN_FEED = "No such episode in this feed."
NO_FEED = "No feed at this address. Check the URL, or ask the publisher for your feed link."


class Variant(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


Row = tuple[Any, ...]


@dataclass(frozen=True)
class Access:
    token: str
    subscriber_id: int
    show_id: int
    show_version: int
    variant: Variant


ACCESS = (
    select(
        FeedAccess.subscriber_id, FeedAccess.entitled, Subscriber.status, Show.id, Show.feed_version
    )
    .join(Subscriber, Subscriber.id == FeedAccess.subscriber_id)
    .join(Show, Show.id == FeedAccess.show_id)
    .where(FeedAccess.token_id == bindparam("token_id"))
)


def resolve(lookup: Callable[[str], Row | None], tokens: FeedTokens, token: str) -> Access:
    """Who holds this token, checked against the database on every request."""
    token_id = tokens.token_id_of(token)
    if token_id is None:
        raise NotFound(NO_FEED)
    row = lookup(token_id)
    if row is None:
        raise NotFound(NO_FEED)
    subscriber_id, entitled, status, show_id, version = row
    if status == SubscriberStatus.REVOKED:
        raise Gone("This feed has been switched off. Contact the publisher for access.")
    active = bool(entitled) and status == SubscriberStatus.ACTIVE
    return Access(
        token, subscriber_id, show_id, version, Variant.ACTIVE if active else Variant.INACTIVE
    )


@dataclass(frozen=True)
class PreparedFeed:
    show_id: int
    version: int
    variant: Variant
    xml: bytes
    placeholder: bytes
    etag: str
    last_modified: datetime
    valid_until: datetime | None

    def is_current(self, version: int, now: datetime) -> bool:
        return self.version == version and (self.valid_until is None or now < self.valid_until)

    spliced: SplicedGzip | None

    def body(self, token: str) -> bytes:
        return self.xml.replace(self.placeholder, token.encode())

    def gzip_body(self, token: str) -> bytes:
        if self.spliced is not None:
            return self.spliced.for_token(token.encode())
        return gzip.compress(self.body(token), compresslevel=6, mtime=0)


class FeedCache:
    """Per-process store of prepared feeds, one per (show, variant). Only the newest version
    is kept; a burst of polls after a publish renders it once, not once per request."""

    def __init__(self) -> None:
        self._feeds: dict[tuple[int, Variant], PreparedFeed] = {}
        self._locks: dict[tuple[int, Variant], threading.Lock] = {}
        self._guard = threading.Lock()

    def get(
        self,
        key: tuple[int, Variant],
        version: int,
        now: datetime,
        build: Callable[[], PreparedFeed],
    ) -> PreparedFeed:
        feed = self._feeds.get(key)
        if feed is not None and feed.is_current(version, now):
            return feed
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            feed = self._feeds.get(key)
            if feed is None or not feed.is_current(version, now):
                feed = build()
                self._feeds[key] = feed
            return feed


def _placeholder() -> str:
    return secrets.token_urlsafe(TOKEN_LENGTH)[:TOKEN_LENGTH]


def feed_url(base_url: str, token: str) -> str:
    return f"{base_url}/p/{token}/feed.xml"


def enclosure_url(base_url: str, token: str, episode: Episode) -> str:
    return f"{base_url}/p/{token}/{episode.id}{PurePosixPath(episode.audio_key).suffix}"


def _etag(*parts: object) -> str:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:24]
    return f'W/"{digest}"'


def visible_episodes(
    session: Session, show_id: int, *, now: datetime
) -> tuple[list[Episode], datetime | None]:
    """The show's episodes a feed carries now, newest first, and when that set next changes
    (the earliest scheduled publication)."""
    published = session.scalars(
        select(Episode)
        .where(Episode.show_id == show_id, Episode.status == EpisodeStatus.PUBLISHED)
        .order_by(Episode.published_at.desc(), Episode.id.desc())
    ).all()
    visible = [e for e in published if e.published_at is not None and e.published_at <= now]
    upcoming = [e.published_at for e in published if e.published_at and e.published_at > now]
    return visible, min(upcoming, default=None)


def _build(
    db: Database, access: Access, base_url: str, renew_url: str, now: datetime
) -> PreparedFeed:
    with transaction(db.reader) as session:
        return _render(session, access, base_url, renew_url, now)


def _render(
    session: Session, access: Access, base_url: str, renew_url: str, now: datetime
) -> PreparedFeed:
    show = session.get_one(Show, access.show_id)
    placeholder = _placeholder()
    links = FeedLinks(
        feed_url=feed_url(base_url, placeholder),
        enclosure_url=lambda episode: enclosure_url(base_url, placeholder, episode),
    )
    if access.variant is Variant.INACTIVE:
        xml = render_inactive(
            show,
            links,
            renew_url=renew_url or show.link,
            since=show.updated_at,
            guid=f"podpass-inactive-{show.id}",
        )
        return PreparedFeed(
            show.id,
            show.feed_version,
            access.variant,
            xml,
            placeholder.encode(),
            _etag(show.id, show.feed_version, "inactive"),
            show.updated_at,
            None,
            build_spliced(xml, placeholder.encode()),
        )
    visible, next_change = visible_episodes(session, show.id, now=now)
    xml = render_feed(show, visible, links, private=True)
    last_modified = max([show.updated_at, *(e.published_at for e in visible[:1] if e.published_at)])
    return PreparedFeed(
        show.id,
        show.feed_version,
        access.variant,
        xml,
        placeholder.encode(),
        _etag(show.id, show.feed_version, "active", len(visible)),
        last_modified,
        next_change,
        build_spliced(xml, placeholder.encode()),
    )


@dataclass(frozen=True)
class Audio:
    key: str
    mime: str
    size: int


# The token's row plus, in the same query, the episode if it belongs to the token's show.
ACCESS_AND_EPISODE = ACCESS.add_columns(
    Episode.status,
    Episode.published_at,
    Episode.free,
    Episode.audio_key,
    Episode.audio_mime,
    Episode.audio_size,
).outerjoin(
    Episode, and_(Episode.id == bindparam("episode_id"), Episode.show_id == FeedAccess.show_id)
)


def authorize_enclosure(episode: Row, access: Access, now: datetime) -> Audio:
    status, published_at, free, key, mime, size = episode
    if status != EpisodeStatus.PUBLISHED or published_at is None or published_at > now:
        raise NotFound(NOT_IN_FEED)
    if access.variant is Variant.INACTIVE and not free:
        raise Forbidden(
            "This subscription is inactive, so paid episodes can't be played. "
            "Renew it and this link works again."
        )
    return Audio(key, mime, size)


class FeedServer:
    """What the public feed endpoints need, built once in the lifespan, so a request
    resolves a single dependency."""

    def __init__(
        self, db: Database, tokens: FeedTokens, storage: Storage, *, base_url: str, renew_url: str
    ) -> None:
        self.db = db
        self.tokens = tokens
        self.storage = storage
        self.base_url = base_url
        self.renew_url = renew_url
        self.cache = FeedCache()
        self._access = HotQuery(db.engine, ACCESS)
        self._audio = HotQuery(db.engine, ACCESS_AND_EPISODE)

    def _lookup(self, token_id: str) -> Row | None:
        return self._access.one_or_none(token_id=token_id)

    def feed(self, token: str, now: datetime) -> PreparedFeed:
        access = resolve(self._lookup, self.tokens, token)  # the one read a poll costs
        return self.cache.get(
            (access.show_id, access.variant),
            access.show_version,
            now,
            lambda: _build(self.db, access, self.base_url, self.renew_url, now),
        )

    def audio(self, token: str, episode_id: int, now: datetime) -> Audio:
        found: Row = ()

        def lookup(token_id: str) -> Row | None:  # one query for the token and the episode
            nonlocal found
            found = self._audio.one_or_none(token_id=token_id, episode_id=episode_id) or ()
            return found[:5] or None

        access = resolve(lookup, self.tokens, token)
        return authorize_enclosure(found[5:], access, now)
