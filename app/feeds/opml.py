"""OPML subscription lists: every feed a subscriber has, to add a whole bundle in one step."""

from xml.etree import ElementTree

from app.core.tokens import FeedTokens
from app.core.urls import Urls
from app.models import FeedAccess, Subscriber

MEDIA_TYPE = "text/x-opml; charset=utf-8"


def entitled_feeds(
    subscriber: Subscriber, tokens: FeedTokens, urls: Urls
) -> list[tuple[FeedAccess, str]]:
    """Each feed the subscriber is entitled to, with its private URL."""
    return [
        (feed, urls.feed(tokens.token_for(feed.token_id)))
        for feed in subscriber.feeds
        if feed.entitled
    ]


def subscriber_feeds(
    subscriber: Subscriber, tokens: FeedTokens, urls: Urls
) -> list[tuple[str, str]]:
    """(show title, private feed URL) for each show the subscriber is entitled to."""
    return [(feed.show.title, url) for feed, url in entitled_feeds(subscriber, tokens, urls)]


def render(title: str, feeds: list[tuple[str, str]]) -> bytes:
    """An OPML 2.0 document listing (title, feed URL) pairs."""
    opml = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(opml, "head")
    ElementTree.SubElement(head, "title").text = title
    body = ElementTree.SubElement(opml, "body")
    for name, url in feeds:
        ElementTree.SubElement(body, "outline", type="rss", text=name, title=name, xmlUrl=url)
    document: bytes = ElementTree.tostring(opml, encoding="utf-8", xml_declaration=True)
    return document
