"""Stage two of serving a feed: the prepared document for a show version, its cache, and
the view of it that one checked request is given.

A show's feed is prepared once per show version (and once more when a scheduled episode
comes due), with a placeholder where each subscriber's token goes, and gzipped once too
(see splice.py). A version costs what changed, not the size of the show: each item is
rendered once per version of its episode and kept, the channel is rendered around the
kept items, and the gzip is joined from kept segments with only the changed ones
compressed anew. A view stamps its holder's token into that document: a byte
substitution, and for gzip a splice of about 10 µs.
"""

import gzip
import hashlib
import html
import logging
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, formatdate
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session

from app import audio
from app.core.clock import Clock
from app.core.db.engine import Database
from app.core.db.session import transaction
from app.core.errors import NotFound
from app.core.tokens import TOKEN_LENGTH
from app.core.urls import FeedPlace, Urls
from app.episodes import service as episodes
from app.feeds.access import Access, Variant
from app.feeds.personal import PLAIN, Shape, shape_for, title_suffix
from app.feeds.render import (
    ExtraItem,
    FeedLinks,
    Notice,
    Paging,
    render_inactive,
    render_parts,
    rss_date,
)
from app.feeds.splice import (
    Piece,
    SplicedGzip,
    Splicer,
    TitleCut,
    placeholder_for,
    positions_of,
)
from app.models import Episode, Show, Welcome
from app.shows.schemas import WELCOME_PAGE_LINK

logger = logging.getLogger(__name__)

# "Your subscription is inactive...", spoken (espeak-ng, lame): the lapsed feed's one item.
NOTICE_AUDIO = Path(__file__).with_name("notice.mp3")
# The same way: the welcome item's default audio, and the payment problem's.
WELCOME_AUDIO = Path(__file__).with_name("welcome.mp3")
PAYMENT_AUDIO = Path(__file__).with_name("payment.mp3")
# The lapsed notice is one per lapse: its GUID and date are the holder's, stamped per view.
_LAPSE_DATE = datetime(2000, 1, 1, tzinfo=UTC)
# How far back a feed's Last-Modified stays from the request's clock: its own second, and
# one more because uvicorn writes Date once a second (Server.on_tick), so a response's Date
# can be up to a second behind.
SETTLING_SECONDS = 2
# Items rendered at a time: a first render of a large show holds one batch's rows and
# feedgen's tree for them, not the whole show's (the memory a worker keeps after it).
RENDER_BATCH = 200


def spoken(path: Path, url: str) -> Notice:
    with path.open("rb") as file:
        size = path.stat().st_size
        seconds = audio.probe(file, size, path.name).duration_seconds
    return Notice(url, size, seconds)


def notice(urls: Urls) -> Notice:
    return spoken(NOTICE_AUDIO, urls.notice_audio())


DEFAULT_WELCOME_NOTES = (
    "<p>Welcome to {show}, and thank you for subscribing. New episodes arrive in this feed "
    'as they come out. Your page, with your feed links and settings: <a href="{page}">'
    "{page}</a></p>"
)


@dataclass
class Fallbacks:
    """How often the fast path was not taken: documents that could not be spliced, and
    requests that paid for a whole gzip because of it. Shown at /healthz."""

    documents: int = 0
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def document(self) -> None:
        with self._lock:
            self.documents += 1

    def request(self) -> None:
        with self._lock:
            self.requests += 1


@dataclass(frozen=True)
class Stamps:
    """Placeholders in a document's XML, each replaced per view."""

    token: bytes
    lapse: bytes | None = None  # the inactive notice's GUID suffix
    lapse_date: bytes | None = None  # and its publication date


@dataclass(frozen=True)
class Document:
    show_id: int
    version: int
    parts: tuple[bytes, ...]  # the XML, in the pieces it was built from
    stamps: Stamps | None  # None: the same bytes for everyone (a public feed)
    etag: str
    last_modified: datetime
    valid_until: datetime | None  # when a scheduled episode comes due
    pages: int  # the main feed and its archive pages
    spliced: SplicedGzip | None
    gzipped: bytes | None  # the whole gzip body, when the document has no placeholder
    listed: int = 0  # episodes the whole feed lists (every page)
    welcome_days: int = 0  # 0: no welcome item
    # Set when each holder's name goes into the title: after parts[0] (personal.py).
    title_cut: TitleCut | None = None
    last_modified_header: str = field(init=False)
    last_modified_second: int = field(init=False)

    def __post_init__(self) -> None:  # formatted once per version, not per poll
        header = format_datetime(self.last_modified, usegmt=True)
        object.__setattr__(self, "last_modified_header", header)
        object.__setattr__(self, "last_modified_second", int(self.last_modified.timestamp()))

    def is_current(self, version: int, now: datetime) -> bool:
        return self.version == version and (self.valid_until is None or now < self.valid_until)

    def xml(self, after_title: bytes = b"") -> bytes:
        """Joined for each plain poll, not kept: nearly every poll takes the gzip, and a
        kept copy would double the memory of a large show (4 shows of 2,000 episodes: 29
        MB). `after_title`: a personal title's suffix, where the title is cut."""
        if self.title_cut is None:
            return b"".join(self.parts)
        head, *rest = self.parts
        return b"".join([head, after_title, *rest])


@dataclass(frozen=True)
class FeedView:
    """One checked request's copy of a document: its token stamped in, and its own
    validators (a lapse or renewal moves Last-Modified forward for its holder alone)."""

    document: Document
    access: Access
    fallbacks: Fallbacks
    served_at: datetime  # the request's clock
    title_suffix: bytes | None = None  # " (for Jane)", escaped: a personal title
    shape_changed_at: datetime | None = None  # when the holder's variant last changed

    @property
    def changed_at(self) -> datetime | None:
        moments = [m for m in (self.access.changed_at, self.shape_changed_at) if m is not None]
        changed = max(moments, default=None)
        return changed if changed is not None and changed > self.document.last_modified else None

    @property
    def etag(self) -> str:
        if self.access.variant is Variant.INACTIVE:
            return _etag(self.document.etag, self.access.changed_at, self.title_suffix or "")
        if self.title_suffix is not None:
            return _etag(self.document.etag, self.title_suffix)
        return self.document.etag

    @property
    def last_modified(self) -> datetime:
        return self.changed_at or self.document.last_modified

    @property
    def last_modified_header(self) -> str:
        """Last-Modified, in whole seconds, once its second has settled: never later than
        the response's Date (RFC 9110 §8.8.2.1), and a change later in a second that has
        not settled still moves past the date a client holds, so that one sending only
        If-Modified-Since sees it (a renewal just after a lapse, a second publish). The
        holder's stamp of such a change may be a second or two ahead (subscribers.service)."""
        changed = self.changed_at
        settled = int(self.served_at.timestamp()) - SETTLING_SECONDS
        if changed is None:
            if self.document.last_modified_second <= settled:
                return self.document.last_modified_header
        elif int(changed.timestamp()) <= settled:
            return format_datetime(changed, usegmt=True)
        return _http_second(settled)

    def body(self) -> bytes:
        document, stamps = self.document, self.document.stamps
        if stamps is None or self.access.token is None:
            return document.xml()
        xml = document.xml(self.title_suffix or b"")
        xml = xml.replace(stamps.token, self.access.token.encode())
        if stamps.lapse and stamps.lapse_date:
            changed = self.access.changed_at or document.last_modified
            xml = xml.replace(stamps.lapse, str(int(changed.timestamp())).encode())
            xml = xml.replace(stamps.lapse_date, rss_date(changed).encode())
        return xml

    def gzip_body(self) -> bytes:
        document = self.document
        if document.gzipped is not None:
            return document.gzipped
        spliced, token = document.spliced, self.access.token
        if spliced is not None and token is not None:
            cut, stamp = document.title_cut, token.encode()
            if cut is not None:
                suffix = self.title_suffix or b""
                return cut.gzip(suffix, spliced.deflate_for(stamp), spliced.crc_for(stamp))
            return spliced.for_token(token.encode())
        if self.access.variant is not Variant.INACTIVE:  # a short notice: cheap to compress
            self.fallbacks.request()
        return gzip.compress(self.body(), compresslevel=6, mtime=0)


@lru_cache(maxsize=64)  # the polls of one second share it
def _http_second(second: int) -> str:
    return formatdate(second, usegmt=True)


def _etag(*parts: object) -> str:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:24]
    return f'W/"{digest}"'


Row = TypeVar("Row")  # an episode, or what a feed lists of it


def archive_pages(episodes: Sequence[Row], limit: int | None) -> list[list[Row]]:
    """Split newest-first episodes into the main feed (index 0) and RFC 5005 archive pages
    1..n of `limit` episodes each, counted from the oldest so that full pages never change."""
    if limit is None or len(episodes) <= limit:
        return [list(episodes)]
    older = list(reversed(episodes[limit:]))  # oldest first
    chunks = [older[i : i + limit] for i in range(0, len(older), limit)]
    return [list(episodes[:limit])] + [list(reversed(chunk)) for chunk in chunks]


def _links(urls: Urls, show: Show, place: FeedPlace, page: int, pages: int) -> FeedLinks:
    if page == 0:
        paging = Paging(older=place.page(pages - 1) if pages > 1 else None)
    else:
        paging = Paging(
            older=place.page(page - 1) if page > 1 else None,
            newer=place.page(page + 1) if page + 1 < pages else place.page(0),
            current=place.page(0),
            is_archive=True,
        )
    return FeedLinks(
        feed=place.page(page),
        canonical=urls.public_feed(show.slug),
        show_artwork=urls.show_artwork(show.slug, show.artwork_key),
        files=place,
        paging=paging,
    )


def _placeholder() -> str:
    return secrets.token_urlsafe(TOKEN_LENGTH)[:TOKEN_LENGTH]


@dataclass
class _Kept:
    """A show's items for one variant, kept from version to version while what they were
    rendered for (where its files are, its language) stays the same."""

    context: tuple[str, ...]
    items: dict[int, Piece] = field(default_factory=dict)


_Key = tuple[int, Variant, int, Shape]


class Documents:
    """Renders and caches one prepared document per (show, variant, archive page, shape:
    see personal.py). Only the newest version is kept; a burst of polls after a publish
    renders it once, not once per request."""

    def __init__(
        self,
        db: Database,
        urls: Urls,
        clock: Clock,
        *,
        renew_url: str,
        notice: Notice,
        fallbacks: Fallbacks,
    ) -> None:
        self.db = db
        self.clock = clock
        self.urls = urls
        self.renew_url = renew_url
        self.notice = notice
        self.fallbacks = fallbacks
        self.welcome_audio = spoken(WELCOME_AUDIO, urls.welcome_audio())
        self.payment_audio = spoken(PAYMENT_AUDIO, urls.payment_audio())
        self._documents: dict[_Key, Document] = {}
        # Kept from version to version: items per (show, variant), gzip parts per document.
        self._kept: dict[tuple[int, Variant], _Kept] = {}
        self._splicers: dict[_Key, Splicer] = {}
        # Per show, for date-based back catalogues: its main feed and its episodes' dates.
        self._dates: dict[int, tuple[Document, list[datetime]]] = {}
        # Where each subscriber's token goes: in the rendered text, and in the gzip.
        self._token = _placeholder()
        splice_placeholder = placeholder_for(TOKEN_LENGTH)
        assert splice_placeholder is not None
        self._splice_placeholder = splice_placeholder
        self._locks: dict[_Key, threading.Lock] = {}
        self._guard = threading.Lock()

    def view(self, access: Access, page: int = 0) -> FeedView:
        now = self.clock()
        if access.variant is Variant.INACTIVE:
            page = 0  # a lapsed subscriber sees the notice wherever they look
        main = self._current(access, 0, now, PLAIN)
        shape, suffix, changed = PLAIN, None, None
        holder = access.holder
        if holder is not None and main.title_cut is not None:  # lapsed too: the show's name
            suffix = title_suffix(holder.name)  # in their app stays what it was
        if access.variant is Variant.ACTIVE and holder is not None:
            shape = shape_for(
                holder,
                welcome_days=main.welcome_days,
                listed=main.listed,
                dates=lambda: self._dates_of(access, main, now),
                now=now,
            )
            moments = [
                _welcome_ended_at(holder.joined_at, main.welcome_days, shape, now),
                holder.past_due_since,
            ]
            changed = max((m for m in moments if m is not None), default=None)
            if not shape.is_plain:
                main = self._current(access, 0, now, shape)
        if page > 0 and page >= main.pages:
            # Checked against the main feed first: made-up page numbers cost no render.
            raise NotFound(f"This feed has no archive page {page}.")
        document = main if page == 0 else self._current(access, page, now, shape)
        return FeedView(document, access, self.fallbacks, now, suffix, changed)

    def _current(self, access: Access, page: int, now: datetime, shape: Shape) -> Document:
        key = (access.show_id, access.variant, page, shape)
        document = self._documents.get(key)
        if document is None or not document.is_current(access.show_version, now):
            document = self._rebuild(key, access.show_version, now)
        return document

    def _dates_of(self, access: Access, main: Document, now: datetime) -> list[datetime]:
        """The listed episodes' publication dates, read once per version of the main feed
        (on the first poll of a date-based plan's subscriber)."""
        known = self._dates.get(access.show_id)
        if known is not None and known[0] is main:
            return known[1]
        logger.info("show %s: reading episode dates for date-based plans", access.show_id)
        with transaction(self.db.reader) as session:
            dates = episodes.visible_dates(session, access.show_id, now=now)
        self._dates[access.show_id] = (main, dates)
        return dates

    def _rebuild(self, key: _Key, version: int, now: datetime) -> Document:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            document = self._documents.get(key)
            if document is None or not document.is_current(version, now):
                previous = document
                show_id, variant, page, shape = key
                with transaction(self.db.reader) as session:
                    show = session.get_one(Show, show_id)
                    document = self._prepare(session, show, variant, page, now, shape)
                self._documents[key] = document
                if previous is not None and shape.is_plain and page == 0:
                    self._forget_unused_shapes(show_id, variant, previous.version)
            return document

    def _forget_unused_shapes(self, show_id: int, variant: Variant, version: int) -> None:
        """Drop the variants (a past-due day, a cutoff) nobody asked for while the show was
        at `version`: so that they do not pile up in memory. Asked for again, one is built
        anew."""
        with self._guard:
            unused = [
                key
                for key, document in list(self._documents.items())
                if key[:2] == (show_id, variant)
                and not key[3].is_plain
                and document.version < version
            ]
            for key in unused:
                self._documents.pop(key, None)
                self._splicers.pop(key, None)
                self._locks.pop(key, None)
        if unused:
            logger.info("show %s: %d unused feed variants dropped", show_id, len(unused))

    def _prepare(
        self,
        session: Session,
        show: Show,
        variant: Variant,
        page: int,
        now: datetime,
        shape: Shape = PLAIN,
    ) -> Document:
        if variant is Variant.INACTIVE:
            return self._inactive(show)
        public = variant is Variant.PUBLIC
        every = episodes.visible_listed(session, show.id, now=now, free_only=public)
        listed = every if shape.episodes is None else every[: shape.episodes]
        pages = archive_pages(listed, show.feed_limit)
        if page >= len(pages):
            raise NotFound(f"This feed has no archive page {page}.")
        on_page = pages[page]
        place = self.urls.public(show.slug) if public else self.urls.private(self._token)
        links = _links(self.urls, show, place, page, len(pages))
        kept = self._kept_items(show, variant, place)
        welcome = None if public else session.get(Welcome, show.id)
        extras = self._extras(session, show, welcome, shape, every, place) if page == 0 else []
        pieces, newest = self._pieces(
            session, show, kept, on_page, links, public=public, extras=extras
        )
        if page == 0 and shape.episodes is None:  # every episode: forget those gone
            items = kept.items
            kept.items = {e.id: items[e.id] for e in listed if e.id in items}
        cut = None
        if show.personal_title and not public:
            cut, pieces = self._title_cut(pieces)
        stamps = None if public else Stamps(self._token.encode())
        spliced = self._spliced((show.id, variant, page, shape), pieces, public)
        identity = (show.id, show.feed_version, variant, page, len(on_page))
        return Document(
            show_id=show.id,
            version=show.feed_version,
            parts=((cut.before,) if cut else ()) + tuple(p.xml for p in pieces),
            stamps=stamps,
            etag=_etag(*identity, *([] if shape.is_plain else [shape])),
            last_modified=max(show.updated_at, newest or show.updated_at),
            valid_until=episodes.next_publication(session, show.id, now=now, free_only=public),
            pages=len(pages),
            spliced=None if public else spliced,
            gzipped=spliced.template if public and spliced else None,
            listed=len(every),
            welcome_days=welcome.days if welcome else 0,
            title_cut=cut,
        )

    def _title_cut(self, pieces: list[Piece]) -> tuple[TitleCut, list[Piece]]:
        """Cut the head after the show's title text (its first text): the part before is
        compressed on its own, the rest of the document is spliced as usual."""
        before, after = _at_title(pieces[0].xml)
        assert self._token.encode() not in before, "the token comes after the title"
        rest = [Piece(("head", after), after, self._positions(after)), *pieces[1:]]
        return TitleCut.of(before, sum(len(p.xml) for p in rest)), rest

    def _extras(
        self,
        session: Session,
        show: Show,
        welcome: Welcome | None,
        shape: Shape,
        every: Sequence[episodes.Listed],
        place: FeedPlace,
    ) -> list[ExtraItem]:
        """The items above the episodes: the payment problem, then the welcome. Dated just
        after the newest episode, so that apps sorting by date keep them at the top."""
        if not shape.welcome and shape.payment_day is None:
            return []
        newest = session.get_one(Episode, every[0].id).published_at if every else None
        after = newest or show.created_at
        extras = []
        if shape.payment_day is not None:
            renew = self.urls.renew(show.slug, show.subscribe_url, self.renew_url)
            extras.append(
                ExtraItem(
                    guid=f"podpass-payment-{show.id}-{shape.payment_day:%Y%m%d}",
                    title=f"Payment problem — update your card at {renew}",
                    notes=(
                        f"<p>A payment for {html.escape(show.title)} did not go through. "
                        f'Update your card at <a href="{html.escape(renew)}">'
                        f"{html.escape(renew)}</a> to keep this feed; every episode stays "
                        "here meanwhile.</p>"
                    ),
                    link=renew,
                    published=after + timedelta(seconds=2),
                    audio=self.payment_audio,
                )
            )
        if shape.welcome and welcome is not None:
            page_link = self.urls.feed_page_link(self._token)
            notes = welcome.notes or DEFAULT_WELCOME_NOTES.format(
                show=html.escape(show.title), page="{subscriber_page}"
            )
            extras.append(
                ExtraItem(
                    guid=f"podpass-welcome-{show.id}",
                    title=welcome.title or f"Welcome to {show.title}",
                    notes=notes.replace(WELCOME_PAGE_LINK, page_link),
                    link=page_link,
                    published=after + timedelta(seconds=1),
                    audio=self._welcome_audio(show, welcome),
                )
            )
        return extras

    def _welcome_audio(self, show: Show, welcome: Welcome) -> Notice:
        key, size, seconds = welcome.audio_key, welcome.audio_size, welcome.duration_seconds
        if key is None or size is None or seconds is None or welcome.audio_mime is None:
            return self.welcome_audio
        url = self.urls.show_welcome_audio(show.slug, key)
        return Notice(url, size, seconds, welcome.audio_mime)

    def _kept_items(self, show: Show, variant: Variant, place: FeedPlace) -> _Kept:
        context = (place.root, place.files, show.language)
        kept = self._kept.get((show.id, variant))
        if kept is None or kept.context != context:
            kept = self._kept[(show.id, variant)] = _Kept(context)
        return kept

    def _pieces(
        self,
        session: Session,
        show: Show,
        kept: _Kept,
        on_page: Sequence[episodes.Listed],
        links: FeedLinks,
        *,
        public: bool,
        extras: Sequence[ExtraItem] = (),
    ) -> tuple[list[Piece], datetime | None]:
        """The page in pieces: the channel's head (rendered for each version), the extras
        (likewise), its items, and the tail. Items new or changed since they were kept are
        rendered now, and kept. With the newest episode's publication date."""
        items = kept.items
        current = {
            e.id: item
            for e in on_page
            if (item := items.get(e.id)) is not None and item.key == (e.id, e.version)
        }
        stale = [e for e in on_page if e.id not in current]
        # The channel and the extras, with the first batch of stale items (if any).
        first = render_parts(
            show,
            self._loaded(session, stale[:RENDER_BATCH]),
            links,
            private=not public,
            extras=extras,
        )
        rendered = first.items[len(extras) :]
        for start in range(RENDER_BATCH, len(stale), RENDER_BATCH):
            batch = self._loaded(session, stale[start : start + RENDER_BATCH])
            rendered += render_parts(show, batch, links, private=not public).items
        logger.debug("feed of show %s: %d items rendered", show.id, len(stale))
        above = [
            Piece(("extra", xml), xml, self._positions(xml)) for xml in first.items[: len(extras)]
        ]
        for listed, xml in zip(stale, rendered, strict=True):
            piece = Piece((listed.id, listed.version), xml, self._positions(xml))
            current[listed.id] = items[listed.id] = piece
        head = Piece(("head", first.head), first.head, self._positions(first.head))
        tail = Piece(("tail", first.tail), first.tail, self._positions(first.tail))
        pieces = [head, *above, *(current[e.id] for e in on_page), tail]
        newest = session.get_one(Episode, on_page[0].id).published_at if on_page else None
        return pieces, newest

    @staticmethod
    def _loaded(session: Session, listed: Sequence[episodes.Listed]) -> list[Episode]:
        found = episodes.get_many(session, [e.id for e in listed])
        return [found[e.id] for e in listed]

    def _positions(self, xml: bytes) -> tuple[int, ...]:
        return tuple(positions_of(xml, self._token.encode()))

    def _spliced(self, key: _Key, pieces: Sequence[Piece], public: bool) -> SplicedGzip | None:
        splicer = self._splicers.get(key)
        if splicer is None:
            splicer = self._splicers[key] = (
                Splicer(None, None)
                if public
                else Splicer(self._token.encode(), self._splice_placeholder)
            )
        spliced = splicer.gzip(pieces)
        if spliced is None:
            self.fallbacks.document()
            logger.warning(
                "feed fast path off: show %s (%s, page %s, %s) holds control characters, so "
                "its gzip cannot be spliced; each request will compress the whole feed",
                *key,
            )
        elif spliced.every_copy_stored:
            logger.info("feed gzip of show %s (%s, page %s, %s) stores every token copy", *key)
        return spliced

    def _inactive(self, show: Show) -> Document:
        """A lapsed subscriber's notice: short, and with more than the token to stamp, so
        compressed per view."""
        urls = self.urls
        token = _placeholder()
        stamps = Stamps(token.encode(), _placeholder().encode(), rss_date(_LAPSE_DATE).encode())
        assert stamps.lapse is not None
        xml = render_inactive(
            show,
            _links(urls, show, urls.private(token), 0, 1),
            renew_url=urls.renew(show.slug, show.subscribe_url, self.renew_url),
            since=_LAPSE_DATE,
            guid=f"podpass-inactive-{show.id}-{stamps.lapse.decode()}",
            notice=self.notice,
        )
        parts: tuple[bytes, ...] = (xml,)
        cut = None
        if show.personal_title:  # compressed per view, so the cut is for xml() alone
            before, after = parts = _at_title(xml)
            cut = TitleCut.of(before, len(after))
        return Document(
            show_id=show.id,
            version=show.feed_version,
            parts=parts,
            stamps=stamps,
            etag=_etag(show.id, show.feed_version, Variant.INACTIVE, 0, 0),
            last_modified=show.updated_at,
            valid_until=None,
            pages=1,
            spliced=None,
            gzipped=None,
            title_cut=cut,
        )


def _at_title(head: bytes) -> tuple[bytes, bytes]:
    """A feed's head cut after the channel's title text, where a personal title's suffix
    goes (its first text: render.py writes the title first)."""
    at = head.index(b"</title>")
    return head[:at], head[at:]


def _welcome_ended_at(
    joined_at: datetime, welcome_days: int, shape: Shape, now: datetime
) -> datetime | None:
    """When the holder's welcome item went, if it has: their feed changed then, whatever
    the document's own date."""
    if welcome_days <= 0 or shape.welcome:
        return None
    ended = joined_at + timedelta(days=welcome_days)
    return ended if ended <= now else None
