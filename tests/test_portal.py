"""The subscriber's page: over HTTP, and in headless Chromium driven by Playwright."""

import os
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from app.core.config import Settings
from app.core.tokens import PageLinks, UnsubscribeLinks
from app.main import create_app
from tests.browser import assert_fits_the_width, open_page
from tests.conftest import SECRET_KEY, SHOW, Clock, feed_path, subscribe
from tests.media import image
from tests.test_feed_content import show_json

SCREENSHOT = Path(__file__).parent.parent / "docs" / "subscriber-page.png"


def page_link(admin: TestClient | httpx.Client, subscriber: dict[str, Any]) -> str:
    response = admin.post(f"/admin/subscribers/{subscriber['id']}/page-link")
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return url


def test_page_lists_entitled_shows_only(admin: TestClient, show: dict[str, Any]) -> None:
    admin.post("/admin/shows", json=show_json("goat", "Greatest of All Talk"))
    subscriber = subscribe(admin, "page@example.com", "sharp-tech", "goat")
    admin.put(f"/admin/subscribers/{subscriber['id']}/shows", json={"shows": ["goat"]})
    response = admin.get(page_link(admin, subscriber).removeprefix("http://testserver"))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"
    assert "Greatest of All Talk" in response.text
    assert "Sharp Tech" not in response.text


def test_expired_tampered_and_revoked_links_get_a_friendly_page(
    admin: TestClient, show: dict[str, Any]
) -> None:
    subscriber = subscribe(admin, "links@example.com", "sharp-tech")
    eight_days_ago = PageLinks(
        SECRET_KEY, max_age_seconds=7 * 86400, clock=lambda: time.time() - 8 * 86400
    )
    old, _ = eight_days_ago.make(subscriber["id"])
    expired = admin.get(f"/my/{old}")
    assert expired.status_code == 410
    assert expired.headers["content-type"].startswith("text/html")
    assert "This link has expired" in expired.text
    assert "Traceback" not in expired.text
    good = page_link(admin, subscriber).rsplit("/", 1)[1]
    tampered = admin.get(f"/my/{good[:-3]}abc")
    assert tampered.status_code == 404
    assert "This link doesn&#39;t work" in tampered.text
    admin.post(f"/admin/subscribers/{subscriber['id']}/revoke")
    revoked = admin.get(f"/my/{good}")
    assert revoked.status_code == 410
    assert "Access has been switched off" in revoked.text


def test_lapsed_subscriber_is_told_where_to_renew(
    admin: TestClient, show: dict[str, Any], settings: Settings
) -> None:
    subscriber = subscribe(admin, "lapsed@example.com", "sharp-tech")
    admin.post(f"/admin/subscribers/{subscriber['id']}/lapse")
    response = admin.get(page_link(admin, subscriber).removeprefix("http://testserver"))
    assert "Your subscription has lapsed" in response.text
    assert f'href="{settings.renew_url}"' in response.text


def test_the_page_in_a_real_browser(browser: Browser, live: tuple[str, httpx.Client]) -> None:
    _base, admin = live
    assert admin.post("/admin/shows", json=SHOW).status_code == 201
    admin.post("/admin/shows", json=show_json("goat", "Greatest of All Talk"))
    admin.put(
        "/admin/shows/sharp-tech/artwork",
        files={"image": ("art.png", image(1400, color="#0b5394"), "image/png")},
    )
    subscriber = admin.post(
        "/admin/subscribers", json={"email": "phone@example.com", "shows": ["sharp-tech", "goat"]}
    ).json()
    feeds = {f["show"]: f["feed_url"] for f in subscriber["feeds"]}
    link = page_link(admin, subscriber)

    page = open_page(browser, link)
    expect(page.get_by_role("heading", level=2)).to_have_text(
        ["Sharp Tech", "Greatest of All Talk", "New-episode emails"]
    )
    assert_fits_the_width(page)
    if os.environ.get("PODPASS_SCREENSHOT"):
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    for slug, url in feeds.items():
        card = page.locator(f'section[data-show="{slug}"]')
        bare, encoded = url.split("://", 1)[1], quote(url, safe="")
        expected = {
            "Apple Podcasts": f"podcast://{bare}",
            "Overcast": f"overcast://x-callback-url/add?url={encoded}",
            "Pocket Casts": f"pktc://subscribe/{bare}",
            "Castro": f"castro://subscribe/{bare}",
            "AntennaPod": f"https://antennapod.org/deeplink/subscribe?url={encoded}",
            "Podcast Addict": f"podcastaddict://{bare}",
        }
        for name, href in expected.items():
            expect(card.get_by_role("link", name=name)).to_have_attribute("href", href)
        field = card.get_by_label("Any other app: copy your private feed URL")
        expect(field).to_have_value(url)

    sharp = page.locator('section[data-show="sharp-tech"]')
    sharp.get_by_role("button", name="Copy").click()
    expect(sharp.get_by_text("Copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == feeds["sharp-tech"]

    opml = page.get_by_role("link", name="Add all my shows (OPML file)")
    assert httpx.get(opml.get_attribute("href") or "").text.count("xmlUrl=") == 2

    # Reset a leaked URL: a second click confirms; the old URL dies at once.
    assert httpx.get(feeds["sharp-tech"]).status_code == 200
    sharp.get_by_text("Link leaked? Reset this feed URL").click()
    sharp.get_by_role("button", name="Reset the URL for Sharp Tech").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset the URL for Sharp Tech?")
    page.get_by_role("button", name="Yes, reset it").click()
    expect(page.get_by_role("status")).to_contain_text("Sharp Tech has a new private URL")
    new_url = (
        page.locator('section[data-show="sharp-tech"]')
        .get_by_label("Any other app: copy your private feed URL")
        .input_value()
    )
    assert new_url != feeds["sharp-tech"]
    assert httpx.get(feeds["sharp-tech"]).status_code == 404
    assert httpx.get(new_url).status_code == 200
    assert httpx.get(feeds["goat"]).status_code == 200


def test_an_expired_link_in_a_real_browser(
    browser: Browser, live: tuple[str, httpx.Client]
) -> None:
    base, admin = live
    admin.post("/admin/shows", json=SHOW)
    subscriber = admin.post(
        "/admin/subscribers", json={"email": "late@example.com", "shows": ["sharp-tech"]}
    ).json()
    stale = PageLinks(SECRET_KEY, max_age_seconds=7 * 86400, clock=lambda: time.time() - 30 * 86400)
    page = open_page(browser, f"{base}/my/{stale.make(subscriber['id'])[0]}")
    expect(page.get_by_role("heading", level=1)).to_have_text("This link has expired")
    expect(page.get_by_text("Ask for a new one")).to_be_visible()


def test_resetting_a_show_outside_the_subscription_is_refused(
    admin: TestClient, show: dict[str, Any]
) -> None:
    subscriber = subscribe(admin, "reset@example.com", "sharp-tech")
    path = page_link(admin, subscriber).removeprefix("http://testserver")
    response = admin.post(f"{path}/reset/goat", data={"confirm": "yes"})
    assert response.status_code == 404
    assert "Nothing to reset" in response.text
    assert admin.get(feed_path(subscriber, "sharp-tech")).status_code == 200


FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def links_form(client: TestClient, path: str = "/shows/sharp-tech") -> str:
    page = client.get(path)
    assert 'action="http://testserver/email-my-links"' in page.text
    found = FORM_TOKEN.search(page.text)
    assert found is not None
    return found.group(1)


def ask_for_links(client: TestClient, email: str, token: str, **headers: str) -> Any:
    return client.post(
        "/email-my-links", data={"email": email, "form_token": token}, headers=headers
    )


def queued_links(admin: TestClient) -> list[str]:
    return [
        message["payload"]["to"]
        for message in admin.get("/admin/outbox").json()
        if message["payload"]["template"] == "links"
    ]


def test_email_me_my_links_answers_alike_for_known_and_unknown_addresses(
    admin: TestClient, show: dict[str, Any]
) -> None:
    subscribe(admin, "known@example.com", "sharp-tech")
    lapsed = subscribe(admin, "lapsed@example.com", "sharp-tech")
    admin.post(f"/admin/subscribers/{lapsed['id']}/lapse")
    token = links_form(admin)
    answers = [
        ask_for_links(admin, email, token)
        for email in ("Known@Example.com ", "nobody@example.com", "lapsed@example.com")
    ]
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.text for answer in answers}) == 1  # identical, byte for byte
    assert "if that address has a subscription, a link is on its way" in answers[0].text.lower()
    assert queued_links(admin) == ["known@example.com"]  # active subscribers only


def test_the_expired_link_page_offers_a_fresh_link(admin: TestClient, show: dict[str, Any]) -> None:
    subscriber = subscribe(admin, "links@example.com", "sharp-tech")
    old, _ = PageLinks(
        SECRET_KEY, max_age_seconds=7 * 86400, clock=lambda: time.time() - 8 * 86400
    ).make(subscriber["id"])
    token = links_form(admin, f"/my/{old}")
    assert ask_for_links(admin, "links@example.com", token).status_code == 200
    assert queued_links(admin) == ["links@example.com"]


@pytest.fixture
def strict(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    limited = settings.model_copy(
        update={"links_per_address_per_hour": 2, "links_per_ip_per_hour": 3}
    )
    with TestClient(create_app(limited, clock)) as client:
        yield client


def test_email_me_my_links_is_rate_limited_per_address_and_per_network(
    strict: TestClient, clock: Clock
) -> None:
    token = links_form(strict, "/my/not-a-link")
    statuses = [
        ask_for_links(strict, email, token).status_code
        for email in ("a@example.com", "a@example.com", "A@example.com", "b@example.com")
    ]
    assert statuses == [200, 200, 429, 200]  # the address's third this hour
    assert ask_for_links(strict, "c@example.com", token).status_code == 429  # the network's 4th
    clock.advance(timedelta(minutes=61))
    assert ask_for_links(strict, "a@example.com", token).status_code == 200


def test_the_links_form_needs_a_fresh_token_from_our_own_pages(
    client: TestClient, clock: Clock
) -> None:
    token = links_form(client, "/my/not-a-link")
    foreign = ask_for_links(client, "a@example.com", token, Origin="https://elsewhere.example")
    assert foreign.status_code == 403
    assert ask_for_links(client, "a@example.com", "forged").status_code == 403
    same_site = ask_for_links(client, "a@example.com", token, Origin="http://testserver")
    assert same_site.status_code == 200
    # Chromium's Origin for a form on our no-referrer pages: the token decides.
    assert ask_for_links(client, "b@example.com", token, Origin="null").status_code == 200
    assert ask_for_links(client, "b@example.com", "forged", Origin="null").status_code == 403
    clock.advance(timedelta(hours=25))
    assert ask_for_links(client, "a@example.com", token).status_code == 403


def test_new_episode_emails_are_turned_on_on_the_page_and_off_in_one_click(
    admin: TestClient, show: dict[str, Any]
) -> None:
    subscriber = subscribe(admin, "notes@example.com", "sharp-tech")
    path = page_link(admin, subscriber).removeprefix("http://testserver")
    assert "Email me about new episodes" in admin.get(path).text
    turned_on = admin.post(f"{path}/new-episode-emails", data={"on": "yes"}, follow_redirects=False)
    assert turned_on.status_code == 303
    assert turned_on.headers["location"] == f"http://testserver{path}"
    assert "Turn new-episode emails off" in admin.get(path).text

    signed = UnsubscribeLinks(SECRET_KEY).make(subscriber["id"])
    confirm = admin.get(f"/unsubscribe/{signed}")  # a mail scanner following the link
    assert confirm.status_code == 200
    assert "Turn new-episode emails off" in admin.get(path).text
    one_click = admin.post(
        f"/unsubscribe/{signed}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200
    assert "Email me about new episodes" in admin.get(path).text
    assert admin.post(f"/unsubscribe/{signed[:-2]}xx").status_code == 404
    assert admin.get(f"/unsubscribe/{signed[:-2]}xx").status_code == 404
