"""Every public URL Podpass hands out, built in one place.

Domains import this module to make a link; none of them imports `feeds/` for it.
"""

from dataclasses import dataclass
from pathlib import PurePosixPath


def _suffix(key: str) -> str:
    return PurePosixPath(key).suffix


@dataclass(frozen=True)
class FeedPlace:
    """Where one feed's documents and its episodes' files live: under a subscriber's token
    (/p/<token>/...), or under a show's public side (/shows/<slug>/...)."""

    root: str
    files: str  # episodes' files: <files>/<id>.mp3, <files>/<id>/chapters.json, ...

    def page(self, page: int) -> str:
        """The feed (page 0) or one of its RFC 5005 archive pages."""
        return f"{self.root}/feed.xml" if page == 0 else f"{self.root}/archive/{page}.xml"

    def audio(self, episode_id: int, audio_key: str, version: int | None = 1) -> str:
        """`version`: the episode's audio_version (None on a row not stored yet: its first). A
        replaced file is at a new URL (apps keep a download by its URL); the first one keeps
        the plain URL it always had."""
        url = f"{self.files}/{episode_id}{_suffix(audio_key)}"
        return f"{url}?v={version}" if version is not None and version > 1 else url

    def artwork(self, episode_id: int, artwork_key: str) -> str:
        return f"{self.files}/{episode_id}/artwork{_suffix(artwork_key)}"

    def chapters(self, episode_id: int) -> str:
        return f"{self.files}/{episode_id}/chapters.json"

    def transcript(self, episode_id: int, extension: str) -> str:
        return f"{self.files}/{episode_id}/transcript.{extension}"


class Urls:
    """Public links under one base URL (PODPASS_BASE_URL, without a trailing slash)."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")

    # A subscriber's private documents, under their token.
    def private(self, token: str) -> FeedPlace:
        root = f"{self.base}/p/{token}"
        return FeedPlace(root, root)

    def feed(self, token: str) -> str:
        return self.private(token).page(0)

    def opml(self, token: str) -> str:
        return f"{self.private(token).root}/all.opml"

    # Each show's public side.
    def show_page(self, slug: str) -> str:
        return f"{self.base}/shows/{slug}"

    def public(self, slug: str) -> FeedPlace:
        return FeedPlace(self.show_page(slug), f"{self.show_page(slug)}/episodes")

    def public_feed(self, slug: str) -> str:
        return self.public(slug).page(0)

    def renew(self, slug: str, subscribe_url: str | None, renew_url: str) -> str:
        """Where a lapsed subscriber renews: the feed's notice, the payment notice and the
        lapse email all link here. The show's subscribe_url, else PODPASS_RENEW_URL, else
        the show's public page (which says how to subscribe when neither is set)."""
        return subscribe_url or renew_url or self.show_page(slug)

    def show_artwork(self, slug: str, artwork_key: str | None) -> str:
        """The show's artwork; until some is uploaded, its title card (a PNG)."""
        suffix = _suffix(artwork_key) if artwork_key else ".png"
        return f"{self.show_page(slug)}/artwork{suffix}"

    def public_audio(self, slug: str, episode_id: int, audio_key: str, version: int = 1) -> str:
        return self.public(slug).audio(episode_id, audio_key, version)

    # The subscriber's page (a signed, expiring link) and the lapsed feed's notice.
    def subscriber_page(self, signed: str) -> str:
        return f"{self.base}/my/{signed}"

    def subscriber_opml(self, signed: str) -> str:
        return f"{self.subscriber_page(signed)}/podcasts.opml"

    def subscriber_reset(self, signed: str, slug: str) -> str:
        return f"{self.subscriber_page(signed)}/reset/{slug}"

    def subscriber_new_episode_emails(self, signed: str) -> str:
        return f"{self.subscriber_page(signed)}/new-episode-emails"

    # Public forms and links that need no page link.
    def email_my_links(self) -> str:
        return f"{self.base}/email-my-links"

    def unsubscribe(self, signed: str) -> str:
        return f"{self.base}/unsubscribe/{signed}"

    def notice_audio(self) -> str:
        return f"{self.base}/notice.mp3"

    # The items at the top of a subscriber's feed while they are new or their payment fails.
    def welcome_audio(self) -> str:
        return f"{self.base}/welcome.mp3"

    def show_welcome_audio(self, slug: str, audio_key: str) -> str:
        return f"{self.show_page(slug)}/welcome{_suffix(audio_key)}"

    def payment_audio(self) -> str:
        return f"{self.base}/payment.mp3"

    # The publisher's console (staff log in there).
    def console_alert(self, alert_id: int, status: str) -> str:
        """The alert's card on the alerts page, which lists the alerts of one status."""
        return f"{self.base}/console/alerts?status={status}#alert-{alert_id}"

    def console_password_reset(self, signed: str) -> str:
        """A staff member's forgotten-password link (it sets a new password)."""
        return f"{self.base}/console/password-reset/{signed}"

    def feed_page_link(self, token: str) -> str:
        """The subscriber's page, reached through a feed's token: it answers with a fresh
        signed page link, so a link kept in a podcast app never expires."""
        return f"{self.private(token).root}/my"
