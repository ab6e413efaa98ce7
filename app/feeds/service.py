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

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Forbidden, Gone, NotFound
from app.feeds.render import FeedLinks, render_feed, render_inactive
from app.feeds.splice import SplicedGzip, build_spliced
from app.models import Episode, EpisodeStatus, FeedAccess, Show, Subscriber, SubscriberStatus
from app.tokens import TOKEN_LENGTH, FeedTokens

NO_FEED = "No feed at this address. Check the URL, or ask the publisher for your feed link."


class Variant(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


@dataclass(frozen=True)
class Access:
    token: str
    subscriber_id: int
    show_id: int
    show_version: int
    variant: Variant


def resolve(session: Session, tokens: FeedTokens, token: str) -> Access:
    token_id = tokens.token_id_of(token)
    if token_id is None:
        raise NotFound(NO_FEED)
    row = session.execute(
        select(
            FeedAccess.subscriber_id,
            FeedAccess.entitled,
            Subscriber.status,
            Show.id,
            Show.feed_version,
        )
        .join(Subscriber, Subscriber.id == FeedAccess.subscriber_id)
        .join(Show, Show.id == FeedAccess.show_id)
        .where(FeedAccess.token_id == token_id)
    ).one_or_none()
    if row is None:
        raise NotFound(NO_FEED)
    subscriber_id, entitled, status, show_id, version = row
    if status == SubscriberStatus.REVOKED:
        raise Gone("This feed has been switched off. Contact the publisher for access.")
    active = entitled and status == SubscriberStatus.ACTIVE
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


def visible_episodes(session: Session, show_id: int, *, now: datetime
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
    session: Session, access: Access, base_url: str, renew_url: str, now: datetime
) -> PreparedFeed:
    show = session.get_one(Show, access.show_id, populate_existing=True)
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


def prepared_feed(
    session: Session,
    cache: FeedCache,
    access: Access,
    *,
    base_url: str,
    renew_url: str,
    now: datetime,
) -> PreparedFeed:
    return cache.get(
        (access.show_id, access.variant),
        access.show_version,
        now,
        lambda: _build(session, access, base_url, renew_url, now),
    )


def authorize_enclosure(
    session: Session, access: Access, episode_id: int, now: datetime
) -> Episode:
    episode = session.get(Episode, episode_id)
    if (
        episode is None
        or episode.show_id != access.show_id
        or episode.status != EpisodeStatus.PUBLISHED
        or episode.published_at is None
        or episode.published_at > now
    ):
        raise NotFound("No such episode in this feed.")
    if access.variant is Variant.INACTIVE and not episode.free:
        raise Forbidden(
            "This subscription is inactive, so paid episodes can't be played. "
            "Renew it and this link works again."
        )
    return episode
