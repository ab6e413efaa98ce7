"""Each show's public page at /shows/{slug}: over HTTP, and in headless Chromium."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db.engine import build_engine
from app.core.urls import Urls
from app.main import create_app
from app.models import Show
from app.portal import service
from app.portal.service import app_links
from tests.browser import assert_fits_the_width, open_page
from tests.conftest import ADMIN_KEY, Clock, create_show, upload
from tests.media import image

PAGE = "/shows/sharp-tech"
FEED = "http://testserver/shows/sharp-tech/feed.xml"
SHOW_WITH_LONG_TEXT = {
    "slug": "sharp-tech",
    "title": "Sharp Tech",
    "description": "Tech, sharply.\n\n" + "A_description_without_any_spaces_" * 8,
    "author": "Ben & Andrew",
    "owner_name": "Stratechery",
    "owner_email": "podcasts@example.com",
    "link": "https://example.com/sharp-tech",
}


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    engine = build_engine(settings.database_url)
    with Session(engine) as db_session:
        yield db_session
    engine.dispose()


def set_subscribe_url(settings: Settings, slug: str, url: str) -> None:
    engine = build_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(update(Show).where(Show.slug == slug).values(subscribe_url=url))
    engine.dispose()


def episode_id(response: httpx.Response) -> int:
    assert response.status_code == 201, response.text
    number: int = response.json()["id"]
    return number


def test_the_page_lists_free_episodes_only_newest_first(
    admin: TestClient, show: dict[str, Any]
) -> None:
    older = episode_id(
        upload(
            admin,
            "sharp-tech",
            title="Older free one",
            free=True,
            published_at="2026-01-01T06:00:00Z",
            show_notes="<p>Notes &amp; <b>more</b></p><script>steal()</script>",
        )
    )
    newer = episode_id(
        upload(
            admin, "sharp-tech", title="Newer free one", free=True, published_at="2026-01-02T06:00Z"
        )
    )
    upload(admin, "sharp-tech", title="Paid one", publish=True)
    upload(admin, "sharp-tech", title="Free draft", free=True)
    taken_down = episode_id(upload(admin, "sharp-tech", title="Withdrawn", free=True, publish=True))
    assert admin.post(f"/admin/episodes/{taken_down}/unpublish").status_code == 200
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    upload(admin, "sharp-tech", title="Free tomorrow", free=True, published_at=tomorrow)

    response = admin.get(PAGE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "public, max-age=300"
    page = response.text
    assert "<h1>Sharp Tech</h1>" in page
    assert "Ben &amp; Andrew" in page
    assert "Tech, sharply." in page
    for hidden in ("Paid one", "Free draft", "Withdrawn", "Free tomorrow"):
        assert hidden not in page
    assert page.index("Newer free one") < page.index("Older free one")
    assert "2 January 2026" in page
    # Show notes are shown as the sanitised HTML that was stored.
    assert '<div class="notes"><p>Notes &amp; <b>more</b></p></div>' in page
    assert "steal()" not in page
    for number in (newer, older):
        audio = f"http://testserver/shows/sharp-tech/episodes/{number}.mp3"
        assert f'<audio controls preload="none" src="{audio}">' in page
        played = admin.get(audio.removeprefix("http://testserver"))
        assert played.status_code == 200, played.text
        assert played.headers["content-type"] == "audio/mpeg"


def test_the_page_links_the_free_feed_for_each_app(admin: TestClient, show: dict[str, Any]) -> None:
    page = admin.get(PAGE).text
    alternate = 'rel="alternate" type="application/rss+xml" title="Sharp Tech"'
    assert f'<link {alternate} href="{FEED}">' in page
    assert f'value="{FEED}"' in page
    for app in app_links(FEED):
        assert f'href="{app.href.replace("&", "&amp;")}" data-app="{app.name}"' in page
    assert admin.get(FEED.removeprefix("http://testserver")).status_code == 200
    assert "No free episodes yet." in page


def test_the_subscribe_link_is_the_shows_own_else_the_renew_url(
    admin: TestClient, show: dict[str, Any], settings: Settings
) -> None:
    assert f'<a class="button" href="{settings.renew_url}">Subscribe or renew</a>' in (
        admin.get(PAGE).text
    )
    set_subscribe_url(settings, "sharp-tech", "https://example.com/join/sharp-tech")
    page = admin.get(PAGE).text
    assert '<a class="button" href="https://example.com/join/sharp-tech">' in page
    assert settings.renew_url not in page


def test_with_nowhere_to_send_people_the_page_says_whom_to_ask(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"renew_url": ""}))) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        create_show(client)
        page = client.get(PAGE).text
    assert "<h1>Sharp Tech</h1>" in page
    assert "Subscribe or renew" not in page
    # Lapsed subscribers' renew links lead here: the page tells them what to do.
    assert "To subscribe, or to renew a subscription that lapsed, write to Stratechery at" in page
    assert '<a href="mailto:podcasts@example.com">podcasts@example.com</a>' in page


def test_head_answers_like_get_without_a_body(admin: TestClient, show: dict[str, Any]) -> None:
    full = admin.get(PAGE)
    head = admin.head(PAGE)
    assert head.status_code == 200
    assert head.headers["content-type"] == full.headers["content-type"]
    assert head.headers["content-length"] == str(len(full.content))


def test_an_unknown_show_gets_a_friendly_page(client: TestClient) -> None:
    response = client.get("/shows/no-such-show")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>There is no show here</h1>" in response.text
    assert client.head("/shows/no-such-show").status_code == 404


def test_an_episode_appears_at_its_publication_time(
    admin: TestClient, show: dict[str, Any], session: Session
) -> None:
    at = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    upload(admin, "sharp-tech", title="On the hour", free=True, published_at=at.isoformat())
    sharp_tech = session.scalars(select(Show).where(Show.slug == "sharp-tech")).one()
    urls = Urls("http://testserver")

    def titles(now: datetime) -> list[str]:
        return [e.title for e in service.free_episodes(session, urls, sharp_tech, now=now)]

    assert titles(at - timedelta(microseconds=1)) == []
    assert titles(at) == ["On the hour"]


def test_the_show_page_on_a_phone(
    browser: Browser, live: tuple[str, httpx.Client], settings: Settings
) -> None:
    base, admin = live
    assert admin.post("/admin/shows", json=SHOW_WITH_LONG_TEXT).status_code == 201
    admin.put(
        "/admin/shows/sharp-tech/artwork",
        files={"image": ("art.png", image(1400, color="#0b5394"), "image/png")},
    )
    free = episode_id(
        upload(
            admin,
            "sharp-tech",
            title="Antitrust_and_the_Aggregators_" * 4,
            show_notes=(
                "<p>Read https://example.com/" + "long-path-segment-" * 12 + "</p>"
                f'<img src="{base}/shows/sharp-tech/artwork.png" alt="The cover, 1400 px wide">'
                "<pre><code>" + "a_long_line_of_code " * 12 + "</code></pre>"
            ),
            free=True,
            publish=True,
        )
    )
    upload(admin, "sharp-tech", title="Paid one", publish=True)
    feed = f"{base}/shows/sharp-tech/feed.xml"

    page = open_page(browser, f"{base}/shows/sharp-tech")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sharp Tech")
    expect(page.locator("header img")).to_have_attribute(
        "src", f"{base}/shows/sharp-tech/artwork.png"
    )
    assert_fits_the_width(page)

    for app in app_links(feed):
        expect(page.get_by_role("link", name=app.name)).to_have_attribute("href", app.href)
    expect(page.get_by_label("Any other app: copy the free feed's URL")).to_have_value(feed)
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == feed
    expect(page.get_by_role("link", name="Subscribe or renew")).to_have_attribute(
        "href", settings.renew_url
    )

    players = page.locator("article audio")
    expect(players).to_have_count(1)
    expect(players).to_have_attribute("src", f"{base}/shows/sharp-tech/episodes/{free}.mp3")
    expect(players).to_have_attribute("preload", "none")
    # The browser can play it: it loads the file's metadata from the public enclosure URL.
    duration = players.evaluate(
        """(audio) => new Promise((loaded, failed) => {
            audio.onloadedmetadata = () => loaded(audio.duration);
            audio.onerror = () => failed(new Error(`audio error ${audio.error.code}`));
            audio.preload = "metadata";
            audio.load();
        })"""
    )
    assert duration > 0


def test_the_page_and_the_public_feed_keep_the_same_time(
    admin: TestClient, show: dict[str, Any], clock: Clock
) -> None:
    due = datetime.now(UTC) + timedelta(hours=1)
    upload(admin, "sharp-tech", title="Tomorrow's free one", free=True, published_at=due)
    assert "Tomorrow&#39;s free one" not in admin.get(PAGE).text
    clock.advance(timedelta(hours=2))
    assert "Tomorrow&#39;s free one" in admin.get(PAGE).text
    public_feed = feedparser.parse(admin.get("/shows/sharp-tech/feed.xml").content)
    assert [entry.title for entry in public_feed.entries] == ["Tomorrow's free one"]
