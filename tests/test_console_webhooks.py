"""The console's webhook endpoints page, end to end: an endpoint made in the console, an
event caused through the admin API, the sender run, and a real HTTP receiver checking each
delivery's signature with the secret the console showed."""

import re
import time
from datetime import datetime, timedelta

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from app.core.config import Settings
from app.core.tokens import SignatureRejected, verify
from app.outbox.sender import Sender
from tests import test_webhooks_out
from tests.browser import assert_fits_the_width
from tests.conftest import SHOW, Clock
from tests.servers import Received, WebhookReceiver
from tests.test_console import (
    ADMIN,
    as_role,
    csrf_of,
    make_staff,
    staff_in_browser,
    subscriber_with_feed,
)
from tests.test_webhooks_out import Verifying, new_sender

# The settings of the outbound webhook tests: no sender in the app, receivers on 127.0.0.1.
settings = test_webhooks_out.settings


@pytest.fixture
def console(client: TestClient) -> TestClient:
    assert client.post("/admin/shows", json=SHOW, headers=ADMIN).status_code == 201
    return as_role(client, "owner")


def shown_secret(page: str) -> str:
    found = re.search(r'id="new-secret" type="text" readonly value="([^"]+)"', page)
    assert found, "no secret on the page"
    return found[1]


def signed_with(secret: str, received: Received) -> bool:
    try:
        verify(
            secret,
            received.headers["podpass-signature"],
            received.body,
            now=time.time(),
            tolerance=300,
        )
    except SignatureRejected:
        return False
    return True


def send_all(sender: Sender, now: datetime) -> int:
    return sender.send_due(now).claimed


class Switchable(Verifying):
    """A receiver that answers 503 while `down`, and checks signatures once it is up."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def __call__(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if self.down:
            return 503, b"down for maintenance"
        return super().__call__(headers, body)


def test_an_owner_adds_an_endpoint_rotates_its_secret_and_retries_a_dead_delivery(
    console: TestClient, settings: Settings, clock: Clock
) -> None:
    sender = new_sender(console, settings, clock)
    handler = Switchable()
    with WebhookReceiver(handler) as receiver:
        listing = console.get("/console/webhooks").text
        made = console.post(
            "/console/webhooks",
            data={
                "csrf": csrf_of(listing),
                "url": receiver.url,
                "description": "CRM",
                "events": ["subscriber.created"],
            },
        )
        assert made.status_code == 200, made.text
        first_secret = shown_secret(made.text)
        assert first_secret.startswith("whsec_")
        endpoint_page = str(made.url)
        endpoint_id = int(endpoint_page.rsplit("/", 1)[1])
        # Shown once: a reload shows no secret, nor makes another.
        assert 'id="new-secret"' not in console.get(endpoint_page).text
        (listed,) = console.get("/admin/webhook-endpoints", headers=ADMIN).json()
        assert (listed["url"], listed["events"], listed["description"]) == (
            receiver.url,
            ["subscriber.created"],
            "CRM",
        )

        handler.secret = first_secret
        subscriber_with_feed(console, "first@example.com")
        assert send_all(sender, clock()) == 1
        (got,) = receiver.received
        assert got.answered == 200
        assert signed_with(first_secret, got)

        page = console.get(endpoint_page).text
        rotated = console.post(f"{endpoint_page}/rotate", data={"csrf": csrf_of(page)})
        assert "the old one signs nothing from now on" in rotated.text
        second_secret = shown_secret(rotated.text)
        assert second_secret != first_secret
        handler.secret = second_secret
        subscriber_with_feed(console, "second@example.com")
        assert send_all(sender, clock()) == 1
        newest = receiver.received[-1]
        assert newest.answered == 200
        assert signed_with(second_secret, newest)
        assert not signed_with(first_secret, newest)

        # The receiver goes down: the delivery runs out of tries, and its tries show.
        handler.down = True
        subscriber_with_feed(console, "third@example.com")
        now = clock()
        tries = settings.outbox_max_tries
        for _ in range(tries):
            assert send_all(sender, now) == 1
            now += timedelta(days=1)  # past any back-off
        assert send_all(sender, now) == 0
        page = console.get(endpoint_page).text
        assert page.count("answered 503") == tries
        assert "down for maintenance" in page
        dead = re.search(rf'action="/console/webhooks/{endpoint_id}/deliveries/(\d+)/retry"', page)
        assert dead, page

        handler.down = False
        again = console.post(dead[0].split('"')[1], data={"csrf": csrf_of(page)})
        assert f"Delivery {dead[1]} goes out again" in again.text
        assert send_all(sender, clock()) == 1
        back = receiver.received[-1]
        assert back.answered == 200
        assert signed_with(second_secret, back)
        assert b"third@example.com" in back.body
        (delivery, *_) = console.get(
            f"/admin/webhook-endpoints/{endpoint_id}/deliveries", headers=ADMIN
        ).json()
        assert delivery["status"] == "sent"
        assert [a["status_code"] for a in delivery["attempts"]] == [503] * tries + [200]


def test_events_are_changed_and_an_endpoint_deleted_after_asking(console: TestClient) -> None:
    listing = console.get("/console/webhooks").text
    # A form refused: the problem in words, and what was typed kept.
    refused = console.post(
        "/console/webhooks",
        data={"csrf": csrf_of(listing), "url": "not a url", "description": "Zapier"},
    )
    assert refused.status_code == 422
    assert "url: must be a web address" in refused.text
    assert "events: tick at least one event" in refused.text
    assert 'value="not a url"' in refused.text
    assert 'value="Zapier"' in refused.text

    made = console.post(
        "/console/webhooks",
        data={
            "csrf": csrf_of(listing),
            "url": "https://hooks.example.invalid/podpass",
            "events": ["episode.published"],
        },
    )
    endpoint_page = str(made.url)
    api_path = "/admin/webhook-endpoints/" + endpoint_page.rsplit("/", 1)[1]
    none_ticked = console.post(
        endpoint_page, data={"csrf": csrf_of(made.text), "description": "Slack"}
    )
    assert none_ticked.status_code == 422
    assert "events: tick at least one event" in none_ticked.text
    assert 'value="Slack"' in none_ticked.text
    assert console.get(api_path, headers=ADMIN).json()["events"] == ["episode.published"]

    saved = console.post(
        endpoint_page,
        data={
            "csrf": csrf_of(made.text),
            "description": "Slack",
            "events": ["subscriber.revoked", "subscriber.lapsed"],
        },
    )
    assert "Saved: it hears subscriber.lapsed, subscriber.revoked." in saved.text
    changed = console.get(api_path, headers=ADMIN).json()
    assert (changed["events"], changed["description"]) == (
        ["subscriber.lapsed", "subscriber.revoked"],
        "Slack",
    )

    assert "<summary>Delete this endpoint…</summary>" in saved.text  # asks first
    gone = console.post(f"{endpoint_page}/delete", data={"csrf": csrf_of(saved.text)})
    assert "Endpoint https://hooks.example.invalid/podpass deleted" in gone.text
    assert console.get("/admin/webhook-endpoints", headers=ADMIN).json() == []


def test_only_owners_see_webhooks(client: TestClient) -> None:
    support = as_role(client, "support")
    assert support.get("/console/webhooks").status_code == 403
    assert "/console/webhooks" not in support.get("/console/keys").text


@pytest.mark.parametrize("width", [1280, 390])
def test_an_owner_adds_an_endpoint_in_a_browser(
    browser: Browser, live: tuple[str, httpx.Client], width: int
) -> None:
    base, admin = live
    make_staff(admin, "owner@example.com", "owner")
    page = staff_in_browser(browser, base, "owner@example.com")
    page.set_viewport_size({"width": width, "height": 844})
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Webhooks").click()
    page.get_by_label("URL (http or https)").fill("https://hooks.example.invalid/podpass")
    page.get_by_label("Description").fill("CRM")
    page.get_by_label("subscriber.created").check()
    page.get_by_role("button", name="Add the endpoint").click()
    expect(page.get_by_role("heading", name="Its signing secret")).to_be_visible()
    secret = page.get_by_role("textbox", name="Signing secret").input_value()
    assert secret.startswith("whsec_")
    expect(page.get_by_label("subscriber.created")).to_be_checked()
    assert_fits_the_width(page)
    page.get_by_text("Rotate the secret…").click()
    page.get_by_role("button", name="Rotate the secret now").click()
    expect(page.get_by_role("heading", name="Its signing secret")).to_be_visible()
    assert page.get_by_role("textbox", name="Signing secret").input_value() not in ("", secret)
    page.reload()
    expect(page.get_by_role("heading", name="Its signing secret")).to_have_count(0)
    assert_fits_the_width(page)
