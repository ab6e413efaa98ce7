"""Every public URL Podpass hands out, built in one place.

Domains import this module to make a link; none of them imports `feeds/` for it.
"""

from pathlib import PurePosixPath


class Urls:
    """Public links under one base URL (PODPASS_BASE_URL, without a trailing slash)."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")

    # A subscriber's private documents, under their token.
    def private_root(self, token: str) -> str:
        return f"{self.base}/p/{token}"

    def feed(self, token: str) -> str:
        return f"{self.private_root(token)}/feed.xml"

    def opml(self, token: str) -> str:
        return f"{self.private_root(token)}/all.opml"

    # Each show's public side.
    def show_page(self, slug: str) -> str:
        return f"{self.base}/shows/{slug}"

    def public_feed(self, slug: str) -> str:
        return f"{self.show_page(slug)}/feed.xml"

    def show_artwork(self, slug: str, artwork_key: str | None) -> str | None:
        if not artwork_key:
            return None
        return f"{self.show_page(slug)}/artwork.{artwork_key.rsplit('.', 1)[-1]}"

    def public_episodes_root(self, slug: str) -> str:
        return f"{self.show_page(slug)}/episodes"

    def public_audio(self, slug: str, episode_id: int, audio_key: str) -> str:
        return f"{self.public_episodes_root(slug)}/{episode_id}{PurePosixPath(audio_key).suffix}"

    # The subscriber's page (a signed, expiring link) and the lapsed feed's notice.
    def subscriber_page(self, signed: str) -> str:
        return f"{self.base}/my/{signed}"

    def subscriber_opml(self, signed: str) -> str:
        return f"{self.subscriber_page(signed)}/podcasts.opml"

    def subscriber_reset(self, signed: str, slug: str) -> str:
        return f"{self.subscriber_page(signed)}/reset/{slug}"

    def notice_audio(self) -> str:
        return f"{self.base}/notice.mp3"
