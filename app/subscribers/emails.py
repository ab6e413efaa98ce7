"""What a subscriber's emails say, composed as each goes out (app/outbox/emails.py sends them).

The only private link a subscriber's email carries is their page link, minted as the email
goes out. Feed URLs, which are secrets that work without expiring, stay on that page. The
new-episode note also carries its one-click unsubscribe link (RFC 8058), which can do
nothing but turn those notes off."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.tokens import PageLinks, UnsubscribeLinks
from app.core.urls import Urls
from app.models import Episode, EpisodeStatus, NewEpisodeOptIn, Subscriber, SubscriberStatus
from app.outbox.emails import Composer, Letter
from app.outbox.schemas import EmailTemplate
from app.outbox.service import NotDue, NotSendable
from app.subscribers import service as subscribers

SUBJECTS = {
    EmailTemplate.WELCOME: "Your {publisher} podcasts are ready",
    EmailTemplate.LAPSED: "Your {publisher} subscription has lapsed",
    EmailTemplate.RENEWED: "Welcome back: your {publisher} podcasts are on again",
    EmailTemplate.URL_RESET: "Your feed address for {show} was reset",
    EmailTemplate.LINKS: "Your {publisher} podcasts page",
    EmailTemplate.NEW_EPISODE: "New on {show}: {episode}",
}


@dataclass(frozen=True)
class RenewLink:
    label: str
    url: str


class SubscriberEmails:
    def __init__(self, settings: Settings, urls: Urls, links: PageLinks) -> None:
        self.settings = settings
        self.urls = urls
        self.links = links
        self.unsubscribe = UnsubscribeLinks(settings.secret_key)

    def composers(self) -> dict[EmailTemplate, Composer]:
        def composer(template: EmailTemplate) -> Composer:
            return lambda session, payload, now: self.compose(session, template, payload, now)

        return {template: composer(template) for template in SUBJECTS}

    def compose(
        self, session: Session, template: EmailTemplate, payload: dict[str, Any], now: datetime
    ) -> Letter:
        subscriber = subscribers.get(session, payload["subscriber_id"])
        if subscriber.status == SubscriberStatus.REVOKED:
            raise NotSendable("not sent: the subscriber was revoked before it went out")
        # The address now, not when it was queued: the page link is a credential, and
        # an address the subscriber left may belong to someone else by now.
        context = self._context(subscriber, payload)
        unsubscribe_url = None
        if template is EmailTemplate.NEW_EPISODE:
            context |= self._new_episode(session, subscriber, payload, now)
            unsubscribe_url = context["unsubscribe_url"]
        subject = SUBJECTS[template].format(publisher=self.settings.publisher_name, **context)
        return Letter(subscriber.email, subject, context, unsubscribe_url)

    def _context(self, subscriber: Subscriber, payload: dict[str, Any]) -> dict[str, Any]:
        entitled = [feed.show for feed in subscriber.feeds if feed.entitled]
        renew: dict[str, RenewLink] = {}
        for show in entitled:
            url = self.urls.renew(show.slug, show.subscribe_url, self.settings.renew_url)
            renew.setdefault(url, RenewLink(f"Renew {show.title}", url))
        if len(renew) == 1:  # one place renews them all
            only = next(iter(renew.values()))
            renew = {only.url: RenewLink("Renew your subscription", only.url)}
        reset = next((s for s in entitled if s.slug == payload.get("show")), None)
        return {
            "page_url": subscribers.page_link(self.links, self.urls, subscriber.id).url,
            "page_days": f"{self.settings.page_link_days:g}",
            "shows": [show.title for show in entitled],
            "renew_links": list(renew.values()),
            "show": reset.title if reset else payload.get("show", ""),
        }

    def _new_episode(
        self, session: Session, subscriber: Subscriber, payload: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        """Checked again as it goes out: the subscriber may have turned these notes off,
        lapsed or lost the show, and the episode may have been unpublished or put off."""
        episode = session.get(Episode, payload["episode_id"])
        if episode is None or episode.status != EpisodeStatus.PUBLISHED:
            raise NotSendable("not sent: the episode was unpublished")
        if episode.published_at is not None and episode.published_at > now:
            raise NotDue("the episode was rescheduled", episode.published_at)
        if session.get(NewEpisodeOptIn, subscriber.id) is None:
            raise NotSendable("not sent: the subscriber turned new-episode emails off")
        feed = next((f for f in subscriber.feeds if f.show_id == episode.show_id), None)
        if subscriber.status != SubscriberStatus.ACTIVE or feed is None or not feed.entitled:
            raise NotSendable("not sent: the subscriber is no longer entitled to the show")
        return {
            "show": feed.show.title,
            "episode": episode.title,
            "show_url": self.urls.show_page(feed.show.slug),
            "unsubscribe_url": self.urls.unsubscribe(self.unsubscribe.make(subscriber.id)),
        }
