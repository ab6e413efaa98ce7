"""Feed XML: the only module that imports feedgen. Pure: ORM rows in, bytes out, no I/O."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from app.models import Episode, Show

ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
GENERATOR = "Podpass"

Element = tuple[str, str | None, dict[str, str]]


class _Extras(BaseExtension):  # type: ignore[misc]
    """Elements feedgen has no setter for (or writes in a form Apple no longer documents)."""

    def __init__(self) -> None:
        self.elements: list[Element] = []

    def add(self, tag: str, text: str | None = None, **attrib: str) -> None:
        self.elements.append((tag, text, attrib))

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}

    def _append_to(self, parent: Any) -> None:
        for tag, text, attrib in self.elements:
            element = etree.SubElement(parent, tag, attrib)
            element.text = text


class _ChannelExtras(_Extras):
    def extend_rss(self, feed: Any) -> Any:
        self._append_to(feed[0])
        return feed


class _ItemExtras(_Extras):
    def extend_rss(self, item: Any) -> Any:
        self._append_to(item)
        return item


@dataclass(frozen=True)
class FeedLinks:
    """The URLs a rendered feed points at (they may contain a token placeholder)."""

    feed_url: str
    enclosure_url: Callable[[Episode], str]


def _itunes(name: str) -> str:
    return f"{{{ITUNES_NS}}}{name}"


def _new_feed(show: Show, links: FeedLinks, *, private: bool) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.register_extension("extras", _ChannelExtras, _ItemExtras)
    fg.title(show.title)
    # feedgen takes the channel's <link> from the last link given: the show's page.
    fg.link(href=links.feed_url, rel="self", type="application/rss+xml")
    fg.link(href=show.link, rel="alternate")
    fg.description(show.description or show.title)
    fg.language(show.language)
    fg.generator(GENERATOR)
    fg.lastBuildDate(show.updated_at)  # not "now": every worker renders the same bytes
    fg.podcast.itunes_author(show.author)
    fg.podcast.itunes_owner(name=show.owner_name, email=show.owner_email)
    fg.podcast.itunes_category(show.category, show.subcategory)
    fg.podcast.itunes_type("episodic")
    fg.extras.add(_itunes("explicit"), "true" if show.explicit else "false")
    if private:
        fg.extras.add(_itunes("block"), "Yes")
    return fg


def _add_episode(fg: FeedGenerator, episode: Episode, links: FeedLinks) -> None:
    assert episode.published_at is not None
    entry = fg.add_entry(order="append")
    entry.guid(episode.guid, permalink=False)
    entry.title(episode.title)
    entry.description(episode.show_notes or episode.title)
    if episode.article_url:
        entry.link(href=episode.article_url)
    entry.published(episode.published_at)
    entry.enclosure(links.enclosure_url(episode), str(episode.audio_size), episode.audio_mime)
    entry.podcast.itunes_duration(round(episode.duration_seconds))
    entry.podcast.itunes_episode_type(episode.episode_type)
    if episode.season is not None:
        entry.podcast.itunes_season(episode.season)
    if episode.number is not None:
        entry.podcast.itunes_episode(episode.number)
    entry.extras.add(_itunes("explicit"), "true" if episode.explicit else "false")


def render_feed(
    show: Show, episodes: Sequence[Episode], links: FeedLinks, *, private: bool
) -> bytes:
    """The show's feed, newest episode first."""
    fg = _new_feed(show, links, private=private)
    for episode in episodes:
        _add_episode(fg, episode, links)
    return bytes(fg.rss_str(pretty=False))


def render_inactive(
    show: Show, links: FeedLinks, *, renew_url: str, since: datetime, guid: str
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
    return bytes(fg.rss_str(pretty=False))
