"""Feed XML: the only module that imports feedgen. Pure: ORM rows in, bytes out, no I/O."""

import html
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import formatRFC2822
from lxml import etree

from app.core.urls import FeedPlace
from app.models import TRANSCRIPT_TYPES, Episode, EpisodeKind, Show

ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
GENERATOR = "Podpass"
# The Podcasting 2.0 namespace's UUIDv5 namespace for podcast:guid.
PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")

Element = tuple[str, str | None, dict[str, str]]


class _Extras(BaseExtension):  # type: ignore[misc]
    """Elements feedgen has no setter for (or writes in a form Apple no longer documents)."""

    def __init__(self) -> None:
        self.elements: list[Element] = []

    def add(self, tag: str, text: str | None = None, **attrib: str) -> None:
        self.elements.append((tag, text, attrib))

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS, "fh": HISTORY_NS}

    def _append_to(self, parent: Any) -> None:
        for tag, text, attrib in self.elements:
            element = etree.SubElement(parent, tag, attrib)
            element.text = text


class _ChannelExtras(_Extras):
    def extend_rss(self, feed: Any) -> Any:
        self._append_to(feed[0])
        return feed


class _ItemExtras(_Extras):
    end_marker: str | None = None  # text written after the item, to cut the feed there

    def extend_rss(self, item: Any) -> Any:
        self._append_to(item)
        item.tail = self.end_marker
        return item


@dataclass(frozen=True)
class Paging:
    """RFC 5005 links: `older` is the next page back (rel="next" and "prev-archive")."""

    older: str | None = None
    newer: str | None = None  # archive pages only: the next one forward
    current: str | None = None  # archive pages only: the subscription feed
    is_archive: bool = False


@dataclass(frozen=True)
class FeedLinks:
    """The URLs a rendered feed points at (they may contain a token placeholder)."""

    feed: str  # this document
    canonical: str  # the show's token-less public feed: the basis of podcast:guid
    show_artwork: str | None
    files: FeedPlace  # where the episodes' audio and other files are
    paging: Paging = Paging()


def rss_date(moment: datetime) -> str:
    """A date as feedgen writes pubDate."""
    formatted: str = formatRFC2822(moment)
    return formatted


def podcast_guid(canonical_feed_url: str) -> str:
    """podcast:guid as the Podcasting 2.0 namespace defines it."""
    bare = canonical_feed_url.split("://", 1)[-1].rstrip("/")
    return str(uuid.uuid5(PODCAST_GUID_NAMESPACE, bare))


def _ns(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _people(extras: _Extras, people: Sequence[dict[str, str]]) -> None:
    for person in people:
        attrib = {k: person[k] for k in ("role", "group", "href", "img") if person.get(k)}
        extras.add(_ns(PODCAST_NS, "person"), person["name"], **attrib)


def _new_feed(
    show: Show, links: FeedLinks, *, private: bool, title: str | None = None
) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.register_extension("extras", _ChannelExtras, _ItemExtras)
    fg.title(title or show.title)  # the first text in the head: personal.py cuts there
    # feedgen takes the channel's <link> from the last link given: the show's page.
    fg.link(href=links.feed, rel="self", type="application/rss+xml")
    fg.link(href=show.link, rel="alternate")
    fg.description(show.description or show.title)
    fg.language(show.language)
    fg.generator(GENERATOR)
    fg.lastBuildDate(show.updated_at)  # not "now": every worker renders the same bytes
    fg.podcast.itunes_author(show.author)
    fg.podcast.itunes_owner(name=show.owner_name, email=show.owner_email)
    fg.podcast.itunes_category(show.category, show.subcategory)
    fg.podcast.itunes_type(show.itunes_type)
    extras = fg.extras
    extras.add(_ns(ITUNES_NS, "explicit"), _bool(show.explicit))
    if links.show_artwork:
        fg.image(url=links.show_artwork, title=show.title, link=show.link)
        extras.add(_ns(ITUNES_NS, "image"), href=links.show_artwork)
    extras.add(_ns(PODCAST_NS, "guid"), podcast_guid(links.canonical))
    extras.add(_ns(PODCAST_NS, "locked"), "yes", owner=show.owner_email)
    if private:
        extras.add(_ns(ITUNES_NS, "block"), "Yes")
        extras.add(_ns(PODCAST_NS, "block"), "yes")
    _people(extras, show.people or [])
    paging = links.paging
    if paging.older:
        extras.add(_ns(ATOM_NS, "link"), rel="next", href=paging.older)
        extras.add(_ns(ATOM_NS, "link"), rel="prev-archive", href=paging.older)
    if paging.newer:
        extras.add(_ns(ATOM_NS, "link"), rel="next-archive", href=paging.newer)
    if paging.current:
        extras.add(_ns(ATOM_NS, "link"), rel="current", href=paging.current)
    if paging.is_archive:
        extras.add(_ns(HISTORY_NS, "archive"))
    elif show.previous_feed_url and not private:  # moved here: apps store the new address
        extras.add(_ns(ITUNES_NS, "new-feed-url"), links.feed)
    return fg


def _add_episode(fg: FeedGenerator, episode: Episode, links: FeedLinks) -> _ItemExtras:
    assert episode.published_at is not None
    files = links.files
    entry = fg.add_entry(order="append")
    entry.guid(episode.guid, permalink=False)
    entry.title(episode.title)
    # Show notes and article text are stored as sanitised HTML (app.text.feed_html).
    notes = episode.show_notes or html.escape(episode.title)
    entry.description(notes)
    full = notes
    if episode.kind == EpisodeKind.ARTICLE and episode.article_text:
        # Apps that find content:encoded show it instead of the description: the notes
        # come first, then the article.
        article = episode.article_text
        full = f"{episode.show_notes}<hr>{article}" if episode.show_notes else article
    # CDATA cannot hold "]]>"; escaped text is the same HTML to every XML parser.
    entry.content(full, type=None if "]]>" in full else "CDATA")
    if episode.article_url:
        entry.link(href=episode.article_url)
    entry.published(episode.published_at)
    entry.enclosure(
        files.audio(episode.id, episode.audio_key, episode.audio_version),
        str(episode.audio_size),
        episode.audio_mime,
    )
    entry.podcast.itunes_duration(round(episode.duration_seconds))
    entry.podcast.itunes_episode_type(episode.episode_type)
    if episode.season is not None:
        entry.podcast.itunes_season(episode.season)
    if episode.number is not None:
        entry.podcast.itunes_episode(episode.number)
    extras = entry.extras
    extras.add(_ns(ITUNES_NS, "explicit"), _bool(episode.explicit))
    if episode.artwork_key:
        extras.add(
            _ns(ITUNES_NS, "image"),
            href=files.artwork(episode.id, episode.artwork_key),
        )
    if episode.chapters:
        extras.add(
            _ns(PODCAST_NS, "chapters"),
            url=files.chapters(episode.id),
            type="application/json+chapters",
        )
    if episode.transcript and episode.transcript_type:
        extension = next(k for k, v in TRANSCRIPT_TYPES.items() if v == episode.transcript_type)
        attrib = {"rel": "captions"} if extension != "txt" else {}
        extras.add(
            _ns(PODCAST_NS, "transcript"),
            url=files.transcript(episode.id, extension),
            type=episode.transcript_type,
            language=fg.language(),
            **attrib,
        )
    _people(extras, episode.people or [])
    item_extras: _ItemExtras = extras
    return item_extras


@dataclass(frozen=True)
class Notice:
    """A short spoken notice, so apps that list only playable items show the notice too."""

    url: str
    size: int
    seconds: float
    mime: str = "audio/mpeg"


@dataclass(frozen=True)
class ExtraItem:
    """An item that is no episode, at the top of a subscriber's feed: the welcome, or the
    payment problem."""

    guid: str
    title: str
    notes: str  # HTML
    link: str | None
    published: datetime
    audio: Notice


def _add_extra(fg: FeedGenerator, item: ExtraItem) -> _ItemExtras:
    entry = fg.add_entry(order="append")
    entry.guid(item.guid, permalink=False)
    entry.title(item.title)
    entry.description(item.notes)
    entry.content(item.notes, type=None if "]]>" in item.notes else "CDATA")
    if item.link:
        entry.link(href=item.link)
    entry.published(item.published)
    entry.enclosure(item.audio.url, str(item.audio.size), item.audio.mime)
    entry.podcast.itunes_duration(round(item.audio.seconds))
    extras: _ItemExtras = entry.extras
    return extras


def render_feed(
    show: Show,
    episodes: Sequence[Episode],
    links: FeedLinks,
    *,
    private: bool,
    title: str | None = None,
    extras: Sequence[ExtraItem] = (),
) -> bytes:
    """The show's feed (or one archive page of it), newest episode first, after `extras`;
    `title`: the channel's, if not the show's."""
    fg = _new_feed(show, links, private=private, title=title)
    for extra in extras:
        _add_extra(fg, extra)
    for episode in episodes:
        _add_episode(fg, episode, links)
    return bytes(fg.rss_str(pretty=False))


@dataclass(frozen=True)
class FeedParts:
    """A feed cut where its items begin and end: head + items + tail is its render."""

    head: bytes  # the XML declaration and the channel's own elements
    items: list[bytes]  # one per extra, then one per episode, in the order given
    tail: bytes  # what closes the channel and the document


def render_parts(
    show: Show,
    episodes: Sequence[Episode],
    links: FeedLinks,
    *,
    private: bool,
    extras: Sequence[ExtraItem] = (),
) -> FeedParts:
    """render_feed()'s bytes in parts, so that items rendered for one version can be kept
    and joined into the next. Each item is followed by a marker as it is written, and the
    bytes are cut at the markers; the first item starts at the first "<item>" (nothing
    before it is markup the feed's text can forge: the channel's text is escaped)."""
    fg = _new_feed(show, links, private=private)
    marker = f"podpass-cut-{uuid.uuid4().hex}"
    for extra in extras:
        _add_extra(fg, extra).end_marker = marker
    for episode in episodes:
        _add_episode(fg, episode, links).end_marker = marker
    xml = bytes(fg.rss_str(pretty=False))
    if not episodes and not extras:  # feedgen writes the items last in the channel
        head, end, tail = xml.rpartition(b"</channel>")
        return FeedParts(head, [], end + tail)
    *items, tail = xml.split(marker.encode())
    start = items[0].index(b"<item>")
    head, items[0] = items[0][:start], items[0][start:]
    assert len(items) == len(extras) + len(episodes), "a feed's text holds the cutting marker"
    return FeedParts(head, items, tail)


def render_inactive(
    show: Show,
    links: FeedLinks,
    *,
    renew_url: str,
    since: datetime,
    guid: str,
    notice: Notice,
) -> bytes:
    """The feed a lapsed subscriber sees: one notice instead of the paid episodes, so their
    app keeps the subscription and the same URL works again on renewal."""
    fg = _new_feed(show, links, private=True)
    entry = fg.add_entry(order="append")
    entry.guid(guid, permalink=False)
    entry.title(f"Subscription inactive — renew at {renew_url}")
    entry.description(
        f"Your subscription to {show.title} is no longer active, so new episodes are not "
        f"delivered. Renew at {renew_url} and this feed starts working again as it is."
    )
    entry.link(href=renew_url)
    entry.published(since)
    entry.enclosure(notice.url, str(notice.size), "audio/mpeg")
    entry.podcast.itunes_duration(round(notice.seconds))
    return bytes(fg.rss_str(pretty=False))
