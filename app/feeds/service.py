"""The hot serving path: resolve a token, hand out a prepared feed, authorise files.

A show's feed is rendered once per show version (and once more when a scheduled episode
comes due), with a placeholder where each subscriber's token goes, and gzipped once too
(see splice.py). A request costs one indexed query plus a byte substitution; revocation is
never cached.
"""

import gzip
import hashlib
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from app import audio
from app.db import Database, HotQuery, transaction
from app.errors import Forbidden, Gone, NotFound
from app.feeds.render import (
    FeedLinks,
    Notice,
    Paging,
    render_feed,
    render_inactive,
    render_opml,
)
from app.feeds.splice import SplicedGzip, build_spliced
from app.models import Episode, EpisodeStatus, FeedAccess, Show, Subscriber, SubscriberStatus
from app.storage import Storage
from app.tokens import TOKEN_LENGTH, FeedTokens

NOT_IN_FEED = "No such episode in this feed."
# "Your subscription is inactive...", spoken (espeak-ng, lame): the lapsed feed's one item.
NOTICE_AUDIO = Path(__file__).with_name("notice.mp3")
NO_FEED = "No feed at this address. Check the URL, or ask the publisher for your feed link."
INACTIVE = (
    "This subscription is inactive, so paid episodes can't be played. "
    "Renew it and this link works again."
)

Row = tuple[Any, ...]


class Variant(StrEnum):
    ACTIVE = "active"  # a subscriber's feed: everything they are entitled to
    INACTIVE = "inactive"  # lapsed, or the show left their plan: one notice
    PUBLIC = "public"  # the show's free episodes, for anyone


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
PUBLIC_SHOW = select(Show.id, Show.feed_version).where(Show.slug == bindparam("slug"))


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


def check_listed(
    status: str | None,
    published_at: datetime | None,
    free: bool | None,
    variant: Variant,
    now: datetime,
) -> None:
    """Refuse an episode (or its files) that this kind of feed does not offer."""
    if status != EpisodeStatus.PUBLISHED or published_at is None or published_at > now:
        raise NotFound(NOT_IN_FEED)
    if not free and variant is Variant.PUBLIC:
        raise NotFound(NOT_IN_FEED)
    if not free and variant is Variant.INACTIVE:
        raise Forbidden(INACTIVE)


@dataclass(frozen=True)
class Audio:
    key: str
    mime: str
    size: int


@dataclass(frozen=True)
class PreparedFeed:
    version: int
    xml: bytes
    placeholder: bytes
    etag: str
    last_modified: datetime
    last_modified_header: str  # formatted once per version, not per poll
    valid_until: datetime | None
    spliced: SplicedGzip | None
    gzipped: bytes | None  # the whole gzip body, when the feed holds no token

    def is_current(self, version: int, now: datetime) -> bool:
        return self.version == version and (self.valid_until is None or now < self.valid_until)

    def body(self, token: str) -> bytes:
        return self.xml.replace(self.placeholder, token.encode())

    def gzip_body(self, token: str) -> bytes:
        if self.gzipped is not None:
            return self.gzipped
        if self.spliced is not None:
            return self.spliced.for_token(token.encode())
        return gzip.compress(self.body(token), compresslevel=6, mtime=0)


CacheKey = tuple[int, Variant, int]


class FeedCache:
    """Per-process store of prepared feeds, one per (show, variant, archive page). Only the
    newest version is kept; a burst of polls after a publish renders it once, not once per
    request."""

    def __init__(self) -> None:
        self._feeds: dict[CacheKey, PreparedFeed] = {}
        self._locks: dict[CacheKey, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(
        self, key: CacheKey, version: int, now: datetime, build: Callable[[], PreparedFeed]
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


def feed_url(base_url: str, token: str) -> str:
    return f"{base_url}/p/{token}/feed.xml"


def public_feed_url(base_url: str, slug: str) -> str:
    return f"{base_url}/shows/{slug}/feed.xml"


def show_artwork_url(base_url: str, show: Show) -> str | None:
    if not show.artwork_key:
        return None
    return f"{base_url}/shows/{show.slug}/artwork.{show.artwork_key.rsplit('.', 1)[-1]}"


def _etag(*parts: object) -> str:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:24]
    return f'W/"{digest}"'


def visible_episodes(
    session: Session, show_id: int, *, now: datetime, free_only: bool = False
) -> tuple[list[Episode], datetime | None]:
    """The show's episodes a feed carries now, newest first, and when that set next changes
    (the earliest scheduled publication)."""
    query = (
        select(Episode)
        .where(Episode.show_id == show_id, Episode.status == EpisodeStatus.PUBLISHED)
        .order_by(Episode.published_at.desc(), Episode.id.desc())
    )
    if free_only:
        query = query.where(Episode.free.is_(True))
    published = session.scalars(query).all()
    visible = [e for e in published if e.published_at is not None and e.published_at <= now]
    upcoming = [e.published_at for e in published if e.published_at and e.published_at > now]
    return visible, min(upcoming, default=None)


def archive_pages(episodes: Sequence[Episode], limit: int | None) -> list[list[Episode]]:
    """Split newest-first episodes into the main feed (index 0) and RFC 5005 archive pages
    1..n of `limit` episodes each, counted from the oldest so that full pages never change."""
    if limit is None or len(episodes) <= limit:
        return [list(episodes)]
    older = list(reversed(episodes[limit:]))  # oldest first
    chunks = [older[i : i + limit] for i in range(0, len(older), limit)]
    return [list(episodes[:limit])] + [list(reversed(chunk)) for chunk in chunks]


@dataclass(frozen=True)
class _Urls:
    """Where a variant's documents live: under the token, or under the public show."""

    base: str
    root: str  # e.g. https://feeds.example.com/p/<token> or .../shows/<slug>
    files_root: str  # episode files: <root>/<id> or <root>/episodes/<id>

    def page(self, page: int) -> str:
        return f"{self.root}/feed.xml" if page == 0 else f"{self.root}/archive/{page}.xml"


def _links(urls: _Urls, show: Show, page: int, pages: int) -> FeedLinks:
    if page == 0:
        paging = Paging(older=urls.page(pages - 1) if pages > 1 else None)
    else:
        paging = Paging(
            older=urls.page(page - 1) if page > 1 else None,
            newer=urls.page(page + 1) if page + 1 < pages else urls.page(0),
            current=urls.page(0),
            is_archive=True,
        )
    return FeedLinks(
        feed=urls.page(page),
        canonical=public_feed_url(urls.base, show.slug),
        show_artwork=show_artwork_url(urls.base, show),
        episode_files=lambda e: f"{urls.files_root}/{e.id}",
        paging=paging,
    )


def _render(
    session: Session,
    show_id: int,
    variant: Variant,
    page: int,
    *,
    base_url: str,
    renew_url: str,
    notice: Notice,
    now: datetime,
) -> PreparedFeed:
    show = session.get_one(Show, show_id)
    if variant is Variant.PUBLIC:
        placeholder = ""
        urls = _Urls(
            base_url, f"{base_url}/shows/{show.slug}", f"{base_url}/shows/{show.slug}/episodes"
        )
    else:
        placeholder = secrets.token_urlsafe(TOKEN_LENGTH)[:TOKEN_LENGTH]
        urls = _Urls(base_url, f"{base_url}/p/{placeholder}", f"{base_url}/p/{placeholder}")
    if variant is Variant.INACTIVE:
        xml = render_inactive(
            show,
            _links(urls, show, 0, 1),
            renew_url=renew_url or show.link,
            since=show.updated_at,
            guid=f"podpass-inactive-{show.id}",
            notice=notice,
        )
        episodes: list[Episode] = []
        next_change = None
    else:
        visible, next_change = visible_episodes(
            session, show.id, now=now, free_only=variant is Variant.PUBLIC
        )
        pages = archive_pages(visible, show.feed_limit)
        if page >= len(pages):
            raise NotFound(f"This feed has no archive page {page}.")
        episodes = pages[page]
        xml = render_feed(
            show,
            episodes,
            _links(urls, show, page, len(pages)),
            private=variant is not Variant.PUBLIC,
        )
    newest = max((e.published_at for e in episodes if e.published_at), default=show.updated_at)
    last_modified = max(show.updated_at, newest)
    token_bytes = placeholder.encode()
    return PreparedFeed(
        version=show.feed_version,
        xml=xml,
        placeholder=token_bytes,
        etag=_etag(show.id, show.feed_version, variant, page, len(episodes)),
        last_modified=last_modified,
        last_modified_header=format_datetime(last_modified, usegmt=True),
        valid_until=next_change,
        spliced=build_spliced(xml, token_bytes) if placeholder else None,
        gzipped=None if placeholder else gzip.compress(xml, compresslevel=9, mtime=0),
    )


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
        with NOTICE_AUDIO.open("rb") as notice:
            size = NOTICE_AUDIO.stat().st_size
            seconds = audio.probe(notice, size, NOTICE_AUDIO.name).duration_seconds
        self.notice = Notice(f"{base_url}/notice.mp3", size, seconds)
        self._access = HotQuery(db.engine, ACCESS)
        self._audio = HotQuery(db.engine, ACCESS_AND_EPISODE)
        self._public_show = HotQuery(db.engine, PUBLIC_SHOW)

    def _lookup(self, token_id: str) -> Row | None:
        return self._access.one_or_none(token_id=token_id)

    def access(self, token: str) -> Access:
        return resolve(self._lookup, self.tokens, token)

    def _prepared(
        self, show_id: int, version: int, variant: Variant, page: int, now: datetime
    ) -> PreparedFeed:
        def build() -> PreparedFeed:
            with transaction(self.db.reader) as session:
                return _render(
                    session,
                    show_id,
                    variant,
                    page,
                    base_url=self.base_url,
                    renew_url=self.renew_url,
                    notice=self.notice,
                    now=now,
                )

        return self.cache.get((show_id, variant, page), version, now, build)

    def feed(self, token: str, now: datetime, page: int = 0) -> PreparedFeed:
        access = self.access(token)  # the one read a poll costs
        if access.variant is Variant.INACTIVE:
            page = 0  # a lapsed subscriber sees the notice wherever they look
        return self._prepared(access.show_id, access.show_version, access.variant, page, now)

    def public_feed(self, slug: str, now: datetime, page: int = 0) -> PreparedFeed:
        row = self._public_show.one_or_none(slug=slug)
        if row is None:
            raise NotFound(f"No show {slug!r} here.")
        show_id, version = row
        return self._prepared(show_id, version, Variant.PUBLIC, page, now)

    def audio(self, token: str, episode_id: int, now: datetime) -> Audio:
        found: Row = ()

        def lookup(token_id: str) -> Row | None:  # one query for the token and the episode
            nonlocal found
            found = self._audio.one_or_none(token_id=token_id, episode_id=episode_id) or ()
            return found[:5] or None

        access = resolve(lookup, self.tokens, token)
        status, published_at, free, key, mime, size = found[5:]
        check_listed(status, published_at, free, access.variant, now)
        return Audio(key, mime, size)

    def episode(
        self,
        session: Session,
        episode_id: int,
        now: datetime,
        *,
        token: str | None = None,
        slug: str | None = None,
    ) -> Episode:
        """An episode whose files the holder of `token` (or anyone, for a free episode of
        show `slug`) may fetch."""
        if token is not None:
            access = self.access(token)
            show_id, variant = access.show_id, access.variant
        else:
            show = session.scalar(select(Show).where(Show.slug == slug))
            if show is None:
                raise NotFound(f"No show {slug!r} here.")
            show_id, variant = show.id, Variant.PUBLIC
        episode = session.get(Episode, episode_id)
        if episode is None or episode.show_id != show_id:
            raise NotFound(NOT_IN_FEED)
        check_listed(episode.status, episode.published_at, episode.free, variant, now)
        return episode

    def opml(self, session: Session, token: str) -> bytes:
        """Every feed of the token's holder, for adding a whole bundle in one step."""
        subscriber = session.get_one(Subscriber, self.access(token).subscriber_id)
        feeds = [
            (f.show.title, feed_url(self.base_url, self.tokens.token_for(f.token_id)))
            for f in subscriber.feeds
            if f.entitled
        ]
        return render_opml("My private podcast feeds", feeds)
