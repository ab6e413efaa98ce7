"""The subscriber's own page: their shows, feed URLs and one-tap links for their apps."""

from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy.orm import Session

from app.errors import NotFound
from app.feeds.service import feed_url, show_artwork_url
from app.models import Show, Subscriber, SubscriberStatus
from app.subscribers import service as subscribers
from app.tokens import FeedTokens, LinkExpired, LinkInvalid, PageLinks


class LinkProblem(Exception):
    """A page link that cannot be honoured; the page explains it to a person."""

    def __init__(self, status_code: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.title = title
        self.message = message


@dataclass(frozen=True)
class AppLink:
    name: str
    href: str


@dataclass(frozen=True)
class ShowCard:
    slug: str
    title: str
    artwork_url: str | None
    feed_url: str
    apps: list[AppLink]


def app_links(url: str) -> list[AppLink]:
    """Each app's documented way to subscribe to a feed URL."""
    bare = url.split("://", 1)[-1]
    encoded = quote(url, safe="")
    return [
        AppLink("Apple Podcasts", f"podcast://{bare}"),
        AppLink("Overcast", f"overcast://x-callback-url/add?url={encoded}"),
        AppLink("Pocket Casts", f"pktc://subscribe/{bare}"),
        AppLink("Castro", f"castro://subscribe/{bare}"),
        AppLink("AntennaPod", f"https://antennapod.org/deeplink/subscribe?url={encoded}"),
        AppLink("Podcast Addict", f"podcastaddict://{bare}"),
    ]


def subscriber_for(session: Session, links: PageLinks, signed: str) -> Subscriber:
    try:
        subscriber_id = links.subscriber_of(signed)
    except LinkExpired:
        raise LinkProblem(
            410,
            "This link has expired",
            "For your security, page links work for a limited time. Ask "
            "for a new one and it will arrive by email.",
        ) from None
    except LinkInvalid:
        raise LinkProblem(
            404,
            "This link doesn't work",
            "The address may have been cut short when it was copied. "
            "Open the link from the email again, or ask for a new one.",
        ) from None
    try:
        subscriber = subscribers.get(session, subscriber_id)
    except NotFound:
        raise LinkProblem(
            404,
            "This link doesn't work",
            "There is no subscription here any more. Contact the publisher if that is a mistake.",
        ) from None
    if subscriber.status == SubscriberStatus.REVOKED:
        raise LinkProblem(
            410,
            "Access has been switched off",
            "Contact the publisher if you think that is a mistake.",
        )
    return subscriber


def cards(subscriber: Subscriber, tokens: FeedTokens, base_url: str) -> list[ShowCard]:
    result = []
    for feed in subscriber.feeds:
        if not feed.entitled:
            continue
        show = feed.show
        url = feed_url(base_url, tokens.token_for(feed.token_id))
        artwork = show_artwork_url(base_url, show)
        result.append(ShowCard(show.slug, show.title, artwork, url, app_links(url)))
    return result


def entitled_show(subscriber: Subscriber, slug: str) -> Show:
    for feed in subscriber.feeds:
        if feed.entitled and feed.show.slug == slug:
            return feed.show
    raise LinkProblem(404, "Nothing to reset", "That show isn't part of your subscription.")


def reset(session: Session, subscriber: Subscriber, slug: str) -> None:
    """A new URL for a leaked feed; the old one stops working at once."""
    entitled_show(subscriber, slug)
    subscribers.rotate(session, subscriber, slug)
