"""Emails, rendered when sent: an HTML and a plain-text part from the Jinja2 templates
beside this module, in the publisher's name and colour. Most go to a subscriber; a sharing
alert goes to the publisher (PODPASS_ALERTS_EMAIL) and carries no private link at all.

The only private link a subscriber's email carries is their page link, minted as the email
goes out. Feed URLs, which are secrets that work without expiring, stay on that page. The
new-episode note also carries its one-click unsubscribe link (RFC 8058), which can do
nothing but turn those notes off."""

from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import Database, transaction
from app.mail import sender_address
from app.models import (
    Episode,
    EpisodeStatus,
    NewEpisodeOptIn,
    SharingAlert,
    Show,
    Subscriber,
    SubscriberStatus,
)
from app.outbox.schemas import EmailTemplate
from app.outbox.service import Claimed, NotDue, NotSendable
from app.sharing.schemas import Evidence
from app.subscribers import service as subscribers
from app.text import when
from app.tokens import PageLinks, UnsubscribeLinks
from app.urls import Urls

# Headers up to RFC 5322's line limit: at the default 78 a long header word (the one-click
# List-Unsubscribe <URL>) is RFC 2047-encoded, which mail clients do not read as a URL.
WIRE = policy.SMTP.clone(max_line_length=998)

SUBJECTS = {
    EmailTemplate.WELCOME: "Your {publisher} podcasts are ready",
    EmailTemplate.LAPSED: "Your {publisher} subscription has lapsed",
    EmailTemplate.RENEWED: "Welcome back: your {publisher} podcasts are on again",
    EmailTemplate.URL_RESET: "Your feed address for {show} was reset",
    EmailTemplate.LINKS: "Your {publisher} podcasts page",
    EmailTemplate.NEW_EPISODE: "New on {show}: {episode}",
    EmailTemplate.SHARING_ALERT: "Sharing suspected: {show} feed of {subscriber}",
}


@dataclass(frozen=True)
class RenewLink:
    label: str
    url: str


def message_id(idempotency_key: str, base_url: str) -> str:
    """The same Message-ID on every try, so a receiving server or client can drop repeats."""
    return f"<{idempotency_key}@{urlsplit(base_url).hostname or 'podpass'}>"


class Emails:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        urls: Urls,
        links: PageLinks,
    ) -> None:
        self.db = db
        self.settings = settings
        self.urls = urls
        self.links = links
        self.unsubscribe = UnsubscribeLinks(settings.secret_key)
        self.templates = Environment(
            loader=FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def compose(self, message: Claimed, now: datetime) -> EmailMessage:
        template = EmailTemplate(message.payload["template"])
        if template.to_publisher:
            to, context = self._to_publisher(message.payload)
        else:
            to, context = self._to_subscriber(template, message.payload, now)
        email = EmailMessage(policy=WIRE)
        email["Subject"] = SUBJECTS[template].format(**context)
        email["From"] = sender_address(self.settings)
        email["To"] = to
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = message_id(message.idempotency_key, self.settings.public_base_url)
        if template is EmailTemplate.NEW_EPISODE:
            email["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
            email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        email.set_content(self.templates.get_template(f"{template}.txt").render(context))
        email.add_alternative(
            self.templates.get_template(f"{template}.html").render(context), subtype="html"
        )
        return email

    def _to_subscriber(
        self, template: EmailTemplate, payload: dict[str, Any], now: datetime
    ) -> tuple[str, dict[str, Any]]:
        with transaction(self.db.reader) as session:
            subscriber = subscribers.get(session, payload["subscriber_id"])
            if subscriber.status == SubscriberStatus.REVOKED:
                raise NotSendable("not sent: the subscriber was revoked before it went out")
            # The address now, not when it was queued: the page link is a credential, and
            # an address the subscriber left may belong to someone else by now.
            context = self._context(session, subscriber, payload)
            if template is EmailTemplate.NEW_EPISODE:
                context |= self._new_episode(session, subscriber, payload, now)
            return subscriber.email, context

    def _to_publisher(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """A sharing alert, to the publisher's alerts address as it is now. It is about a
        subscriber but carries nothing of theirs that opens anything: no feed URL or token,
        no page link; the console link asks staff to log in."""
        to = self.settings.alerts_email
        if not to:
            raise NotSendable("not sent: PODPASS_ALERTS_EMAIL was unset before it went out")
        with transaction(self.db.reader) as session:
            alert = session.get(SharingAlert, payload["alert_id"])
            if alert is None:
                raise NotSendable("not sent: the alert is gone")
            subscriber = session.get(Subscriber, alert.subscriber_id)
            show = session.get(Show, alert.show_id)
            evidence = Evidence.model_validate(alert.evidence)
            zone = self.settings.timezone
            return to, {
                "publisher": self.settings.publisher_name,
                "colour": self.settings.publisher_colour,
                "show": show.title if show else "a deleted show",
                "subscriber": subscriber.email
                if subscriber
                else f"subscriber {alert.subscriber_id}",
                "status": alert.status,
                "opened_at": when(alert.opened_at, zone),
                "reasons": [reason.replace("_", " ") for reason in evidence.reasons],
                "evidence": evidence,
                "first_seen": when(evidence.first_seen, zone),
                "last_seen": when(evidence.last_seen, zone),
                "console_url": self.urls.console_alert(alert.id, alert.status),
            }

    def _context(
        self, session: Session, subscriber: Subscriber, payload: dict[str, Any]
    ) -> dict[str, Any]:
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
            "publisher": self.settings.publisher_name,
            "colour": self.settings.publisher_colour,
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
