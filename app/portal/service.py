"""The pages people open: a subscriber's own page (their shows, feed URLs and one-tap links
for their apps), and each show's public page (its free feed and free episodes)."""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.analytics import anonymise
from app.core.errors import NotFound
from app.core.tokens import FeedTokens, LinkExpired, LinkInvalid, PageLinks, UnsubscribeLinks
from app.core.urls import Urls
from app.episodes import service as episodes
from app.feeds import opml
from app.models import NewEpisodeOptIn, Show, Subscriber, SubscriberStatus
from app.outbox import service as outbox
from app.outbox.schemas import EmailTemplate
from app.shows import service as shows
from app.subscribers import service as subscribers

# The show page lists the newest free episodes; the public feed carries them all.
FREE_EPISODES_SHOWN = 50


# "Email me my links" requests are counted over this window.
class LinkProblem(Exception):
    """A page link that cannot be honoured; the page explains it to a person, and offers
    to email a fresh link when one would help (`offer_links`)."""

    def __init__(
        self, status_code: int, title: str, message: str, *, offer_links: bool = False
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.title = title
        self.message = message
        self.offer_links = offer_links


# Same shape as _Artwork in imports/catalogue.py (two fields, then another record):
# unrelated things.
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


@dataclass(frozen=True)
class FreeEpisode:
    id: int
    title: str
    published_at: datetime
    show_notes: str
    audio_url: str
    audio_mime: str


@dataclass(frozen=True)
class ShowPage:
    show: Show
    artwork_url: str | None
    feed_url: str
    apps: list[AppLink]
    subscribe_url: str | None
    episodes: list[FreeEpisode]


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
            offer_links=True,
        ) from None
    except LinkInvalid:
        raise LinkProblem(
            404,
            "This link doesn't work",
            "The address may have been cut short when it was copied. "
            "Open the link from the email again, or ask for a new one.",
            offer_links=True,
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


def cards(subscriber: Subscriber, tokens: FeedTokens, urls: Urls) -> list[ShowCard]:
    return [
        ShowCard(
            feed.show.slug,
            feed.show.title,
            urls.show_artwork(feed.show.slug, feed.show.artwork_key),
            url,
            app_links(url),
        )
        for feed, url in opml.entitled_feeds(subscriber, tokens, urls)
    ]


def entitled_show(subscriber: Subscriber, slug: str) -> Show:
    for feed in subscriber.feeds:
        if feed.entitled and feed.show.slug == slug:
            return feed.show
    raise LinkProblem(404, "Nothing to reset", "That show isn't part of your subscription.")


def reset(session: Session, subscriber: Subscriber, slug: str, *, now: datetime) -> None:
    """A new URL for a leaked feed; the old one stops working at once."""
    entitled_show(subscriber, slug)
    subscribers.rotate(session, subscriber, slug, now=now)


def free_episodes(session: Session, urls: Urls, show: Show, *, now: datetime) -> list[FreeEpisode]:
    """The show's free episodes out by `now`, newest first: what its public feed carries."""
    listed = episodes.visible(session, show.id, now=now, free_only=True, limit=FREE_EPISODES_SHOWN)
    return [
        FreeEpisode(
            id=episode.id,
            title=episode.title,
            published_at=episode.published_at or now,  # set on every visible episode
            show_notes=episode.show_notes,
            audio_url=urls.public_audio(
                show.slug, episode.id, episode.audio_key, episode.audio_version
            ),
            audio_mime=episode.audio_mime,
        )
        for episode in listed
    ]


def show_page(
    session: Session, urls: Urls, slug: str, *, now: datetime, renew_url: str
) -> ShowPage:
    try:
        show = shows.get(session, slug)
    except NotFound:
        raise LinkProblem(
            404,
            "There is no show here",
            "The address may be mistyped, or the show has moved. Check the link you followed.",
        ) from None
    feed_url = urls.public_feed(show.slug)
    return ShowPage(
        show=show,
        artwork_url=urls.show_artwork(show.slug, show.artwork_key),
        feed_url=feed_url,
        apps=app_links(feed_url),
        subscribe_url=show.subscribe_url or renew_url or None,
        episodes=free_episodes(session, urls, show, now=now),
    )


def client_network(ip: str) -> str:
    """What the per-IP limit counts: the address, or its /64 for IPv6 (one household's
    allocation, in which a client can pick new addresses at will), as analytics counts
    listeners."""
    return anonymise.place(ip).hashed[:64]


def request_links(
    session: Session,
    email: str,
    asker: outbox.Asker,
    *,
    now: datetime,
) -> None:
    """Email an active subscriber at `email` a fresh page link. Known and unknown
    addresses are counted and answered alike, so the answer never tells who subscribes.
    (outbox.link_requested counts them.)"""
    email = email.strip().lower()
    over = outbox.link_requested(session, email, asker, now=now)
    if over == "address":
        raise LinkProblem(
            429,
            "Links were sent a moment ago",
            "We've already sent links to that address several times this hour. "
            "Check your inbox and spam folder, or try again in an hour.",
        )
    if over == "network":
        raise LinkProblem(
            429,
            "Too many requests",
            "This network has asked for many links this hour. Try again in an hour.",
        )
    subscriber = session.scalar(
        select(Subscriber).where(
            Subscriber.email == email, Subscriber.status == SubscriberStatus.ACTIVE
        )
    )
    if subscriber is not None:
        outbox.email(session, EmailTemplate.LINKS, subscriber_id=subscriber.id, to=email, now=now)
    session.flush()


def wants_new_episode_emails(session: Session, subscriber_id: int) -> bool:
    return session.get(NewEpisodeOptIn, subscriber_id) is not None


def set_new_episode_emails(session: Session, subscriber_id: int, *, on: bool) -> None:
    current = session.get(NewEpisodeOptIn, subscriber_id)
    if on and current is None:
        session.add(NewEpisodeOptIn(subscriber_id=subscriber_id))
    elif not on and current is not None:
        session.delete(current)
    session.flush()


def unsubscribing(links: UnsubscribeLinks, signed: str) -> int:
    """Who an unsubscribe link is for."""
    try:
        return links.subscriber_of(signed)
    except LinkInvalid:
        raise LinkProblem(
            404,
            "This link doesn't work",
            "The address may have been cut short when it was copied. You can also turn "
            "new-episode emails off on your podcasts page.",
        ) from None


def unsubscribe(session: Session, links: UnsubscribeLinks, signed: str) -> None:
    """One-click unsubscribe from new-episode emails: no page link, no login."""
    set_new_episode_emails(session, unsubscribing(links, signed), on=False)
