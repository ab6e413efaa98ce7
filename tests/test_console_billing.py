"""The console's billing page, end to end with the providers' own payloads
(tests/fixtures/): an event for a price no plan lists is ignored and shown with why; once a
plan lists the price, "apply again" grants the subscriber, as the admin API and their feed
show."""

import re
import time
from datetime import timedelta
from html import unescape
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from app.core.config import Settings
from app.core.db.session import transaction
from app.jobs import purge
from app.models import WebhookEvent
from tests.browser import assert_fits_the_width
from tests.conftest import SHOW, Clock, feed_path
from tests.test_billing import event, send
from tests.test_billing_providers import (
    CUSTOMER,
    EMAIL,
    GHOST_MEMBER,
    GHOST_SECRET,
    GHOST_TIER,
    STRIPE_SECRET,
    TECH_PRICE,
    ghost_member,
    invoice,
    send_ghost,
    send_stripe,
    stripe_event,
    subscription,
)
from tests.test_console import ADMIN, as_role, csrf_of, make_staff, staff_in_browser

MERCH_PRICE = "price_1Qmerch"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Stripe and Ghost turned on; Memberful and Patreon not."""
    return settings.model_copy(
        update={"stripe_webhook_secret": STRIPE_SECRET, "ghost_webhook_secret": GHOST_SECRET}
    )


@pytest.fixture
def console(client: TestClient) -> TestClient:
    """Sharp Tech, and a plan for it that lists no provider's price yet."""
    assert client.post("/admin/shows", json=SHOW, headers=ADMIN).status_code == 201
    plan = {"name": "Sharp Tech", "shows": ["sharp-tech"], "external_ids": {}}
    assert client.put("/admin/plans/tech", json=plan, headers=ADMIN).status_code == 200
    return client


def list_price(client: TestClient, provider: str, price: str) -> None:
    plan = {"name": "Sharp Tech", "shows": ["sharp-tech"], "external_ids": {provider: [price]}}
    assert client.put("/admin/plans/tech", json=plan, headers=ADMIN).status_code == 200


def subscribers(client: TestClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get("/admin/subscribers", headers=ADMIN).json()
    return found


def event_row(page: str, event_id: str) -> str:
    found = re.search(rf'<tr data-event="{re.escape(event_id)}">(.*?)</tr>', page, re.S)
    assert found, f"{event_id} is not on the page"
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", found[1])))


def source_row(page: str, source: str) -> str:
    found = re.search(rf'<tr data-source="{source}">(.*?)</tr>', page, re.S)
    assert found, f"{source} is not on the page"
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", found[1])))


def assert_granted(client: TestClient) -> None:
    """Through the admin API, and in their feed."""
    (subscriber,) = subscribers(client)
    assert (subscriber["email"], subscriber["status"]) == (EMAIL, "active")
    assert {f["show"] for f in subscriber["feeds"] if f["entitled"]} == {"sharp-tech"}
    feed = client.get(feed_path(subscriber, "sharp-tech"))
    assert feed.status_code == 200
    assert "<title>Sharp Tech</title>" in feed.text


def test_a_stripe_invoice_for_an_unlisted_price_is_applied_again_once_a_plan_lists_it(
    console: TestClient,
) -> None:
    paid = stripe_event("invoice.paid", invoice(MERCH_PRICE), int(time.time()))
    answered = send_stripe(console, paid)
    assert answered.json()["status"] == f"ignored: no plan lists these stripe ids ({MERCH_PRICE})"
    assert subscribers(console) == []

    support = as_role(console, "support")
    page = support.get("/console/billing").text
    event_id = f"stripe:{paid['id']}"
    row = event_row(page, event_id)
    assert f"ignored no plan lists these stripe ids ({MERCH_PRICE})" in row
    assert f"No plan lists {MERCH_PRICE} yet." in row
    assert "Apply" not in row
    stripe = source_row(page, "stripe")
    assert "subscription.renewed, ignored" in stripe
    assert "not set set PODPASS_MEMBERFUL_WEBHOOK_SECRET to turn it on" in source_row(
        page, "memberful"
    )
    assert "none yet" in source_row(page, "ghost")

    # The price added on the Plans page.
    plans = support.get("/console/plans").text
    saved = support.post(
        "/console/plans",
        data={
            "csrf": csrf_of(plans),
            "plan_id": "tech",
            "name": "Sharp Tech",
            "shows": ["sharp-tech"],
            "stripe": f" {MERCH_PRICE}, ",
            "memberful": "",
            "patreon": "",
            "ghost": "",
        },
    )
    assert "Plan Sharp Tech (tech) gives: Sharp Tech." in unescape(saved.text)
    (plan,) = console.get("/admin/plans", headers=ADMIN).json()
    assert plan["external_ids"] == {"stripe": [MERCH_PRICE]}
    page = support.get("/console/billing").text
    assert "Plan tech lists its price now." in event_row(page, event_id)
    applied = support.post(
        f"/console/billing/events/{event_id}/reapply", data={"csrf": csrf_of(page)}
    )
    assert f"Event {event_id} applied again to {EMAIL}: applied." in unescape(applied.text)
    assert "applied" in event_row(applied.text, event_id)
    assert "Apply" not in event_row(applied.text, event_id)
    assert_granted(console)
    (subscriber,) = subscribers(console)
    (theirs,) = their_events(support.get(f"/console/subscribers/{subscriber['id']}").text)
    assert theirs.startswith(f"{event_id} ")
    assert theirs.endswith("applied")

    # Applied once: pressing again (an old page), or Stripe resending it, changes nothing.
    again = support.post(
        f"/console/billing/events/{event_id}/reapply", data={"csrf": csrf_of(page)}
    )
    assert again.status_code == 409
    assert send_stripe(console, paid).json()["status"] == "duplicate"
    assert "(and 1 duplicate since)" in event_row(support.get("/console/billing").text, event_id)


def test_a_ghost_member_of_an_unlisted_tier_is_applied_again(console: TestClient) -> None:
    body = ghost_member("member.added", "paid", "2026-11-28T10:00:00.000Z")
    answered = send_ghost(console, body)
    assert answered.json()["status"] == f"ignored: no plan lists these ghost ids ({GHOST_TIER})"
    support = as_role(console, "support")
    page = support.get("/console/billing").text
    (event_id,) = re.findall(r'<tr data-event="(ghost:[0-9a-f]+)">', page)
    assert "ignored" in event_row(page, event_id)
    # Kept: what re-applying needs, not Ghost's body (the member's name, notes, labels).
    with transaction(console.app.state.db.reader) as session:  # type: ignore[attr-defined]
        kept = session.get_one(WebhookEvent, event_id).payload
    assert kept is not None
    assert set(kept) == {"provider", "id", "type", "occurred", "customer_id", "email", "prices"}
    assert (kept["customer_id"], kept["prices"]) == (f"ghost:{GHOST_MEMBER}", [GHOST_TIER])

    list_price(console, "ghost", GHOST_TIER)
    page = support.get("/console/billing").text
    applied = support.post(
        f"/console/billing/events/{event_id}/reapply", data={"csrf": csrf_of(page)}
    )
    assert f"applied again to {EMAIL}: applied." in unescape(applied.text)
    assert_granted(console)


def test_an_event_still_unlisted_stays_ignored_and_goes_after_the_retention_period(
    console: TestClient, settings: Settings, clock: Clock
) -> None:
    paid = stripe_event("invoice.paid", invoice(MERCH_PRICE), int(time.time()))
    send_stripe(console, paid)
    assert send_stripe(console, paid).json()["status"].startswith("ignored: no plan lists")
    own = event("created", int(time.time()), plan="tech", email="own@example.com")
    assert send(console, own).json()["status"] == "applied"
    db = console.app.state.db  # type: ignore[attr-defined]
    days = settings.event_retention_days
    with transaction(db.writer) as session:
        purge(session, clock() + timedelta(days=days + 1), retention_days=days)
    with transaction(db.reader) as session:
        assert session.scalars(select(WebhookEvent.id)).all() == [own["id"]]
    # Forgotten, as before it was kept: Stripe resending it, once listed, applies it.
    list_price(console, "stripe", MERCH_PRICE)
    resent = send_stripe(console, paid)
    assert resent.json()["status"] == "applied", resent.text


def their_events(page: str) -> list[str]:
    """The billing events on a subscriber's page, in its order: each one's id and words."""
    section = page.partition('id="their-billing-events"')[2].partition("</table>")[0]
    return [
        f"{event_id} {event_row(page, event_id).strip()}"
        for event_id in re.findall(r'<tr data-event="([^"]+)">', section)
    ]


def test_a_subscribers_page_lists_their_billing_events_as_the_api_does(
    console: TestClient, clock: Clock
) -> None:
    list_price(console, "stripe", TECH_PRICE)
    now = int(time.time())
    paid = stripe_event("invoice.paid", invoice(), now - 60)
    cancel = stripe_event("customer.subscription.deleted", subscription("canceled"), now - 10)
    late = stripe_event("customer.subscription.updated", subscription("active"), now - 30)
    theirs = stripe_event(
        "invoice.paid",
        invoice() | {"customer": "cus_Q9other", "customer_email": "other@example.com"},
        now - 50,
    )
    for sent, status in [(paid, "applied"), (theirs, "applied"), (cancel, "applied")]:
        assert send_stripe(console, sent).json()["status"] == status
        clock.advance(timedelta(minutes=1))  # received in this order
    assert send_stripe(console, late).json()["status"].startswith("stale")
    assert send_stripe(console, cancel).json()["status"] == "duplicate"
    payer, other = sorted(subscribers(console), key=lambda s: s["email"] != EMAIL)
    assert (payer["external_id"], other["external_id"]) == (CUSTOMER, "cus_Q9other")

    support = as_role(console, "support")
    listed = their_events(support.get(f"/console/subscribers/{payer['id']}").text)
    assert [row.split(" ", 1)[0] for row in listed] == [
        f"stripe:{late['id']}",
        f"stripe:{cancel['id']}",
        f"stripe:{paid['id']}",
    ]
    assert "subscription.plan_changed stripe" in listed[0]
    assert "stale a later event was already applied" in listed[0]
    assert "subscription.cancelled stripe" in listed[1]
    assert "(and 1 duplicate since)" in listed[1]
    assert "applied" in listed[1]
    assert "subscription.renewed stripe" in listed[2]
    assert listed[2].endswith("applied")
    assert not any(theirs["id"] in row for row in listed)

    # The admin API agrees, and names whom each event concerned.
    api = console.get(
        "/admin/billing/events", params={"subscriber_id": payer["id"]}, headers=ADMIN
    ).json()
    assert [(e["id"], e["outcome"], e["subscriber_id"]) for e in api] == [
        (f"stripe:{late['id']}", "stale", payer["id"]),
        (f"stripe:{cancel['id']}", "applied", payer["id"]),
        (f"stripe:{paid['id']}", "applied", payer["id"]),
    ]
    (only,) = console.get(
        "/admin/billing/events", params={"subscriber_id": other["id"]}, headers=ADMIN
    ).json()
    assert (only["id"], only["subscriber_id"]) == (f"stripe:{theirs['id']}", other["id"])
    (shown,) = their_events(support.get(f"/console/subscribers/{other['id']}").text)
    assert shown.startswith(f"stripe:{theirs['id']} ")


def test_billing_needs_the_support_role(client: TestClient) -> None:
    editor = as_role(client, "editor")
    assert editor.get("/console/billing").status_code == 403


@pytest.mark.parametrize("width", [1280, 390])
def test_support_reads_the_billing_page_in_a_browser(
    browser: Browser, live: tuple[str, httpx.Client], width: int
) -> None:
    base, admin = live
    assert admin.post("/admin/shows", json=SHOW).status_code == 201
    plan = {"name": "Sharp Tech", "shows": ["sharp-tech"]}
    assert admin.put("/admin/plans/tech", json=plan).status_code == 200
    body = event("created", int(time.time()), plan="tech")
    assert send(admin, body).json()["status"] == "applied"  # type: ignore[arg-type]
    make_staff(admin, "support@example.com", "support")
    page = staff_in_browser(browser, base, "support@example.com")
    page.set_viewport_size({"width": width, "height": 844})
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Billing").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing")
    own = page.locator('tr[data-source="podpass"]')
    expect(own).to_contain_text("subscription.created, applied")
    expect(page.locator('tr[data-source="stripe"]')).to_contain_text("not set")
    expect(page.locator(f'tr[data-event="{body["id"]}"]')).to_contain_text("applied")
    assert_fits_the_width(page)


@pytest.mark.parametrize("width", [1280, 390])
def test_support_reads_a_subscribers_billing_events_in_a_browser(
    browser: Browser, live: tuple[str, httpx.Client], width: int
) -> None:
    base, admin = live
    assert admin.post("/admin/shows", json=SHOW).status_code == 201
    plan = {"name": "Sharp Tech", "shows": ["sharp-tech"]}
    assert admin.put("/admin/plans/tech", json=plan).status_code == 200
    # Podpass's own format: the live server has no provider's secret.
    now = int(time.time())
    for sent in [
        event("created", now - 60, plan="tech"),
        event("cancelled", now - 10),
        event("renewed", now - 30, plan="tech", event_id=f"evt_{'late' * 20}"),
    ]:
        send(admin, sent)  # type: ignore[arg-type]
    (subscriber,) = admin.get("/admin/subscribers").json()
    make_staff(admin, "support@example.com", "support")
    page = staff_in_browser(browser, base, "support@example.com")
    page.set_viewport_size({"width": width, "height": 844})
    page.goto(f"{base}/console/subscribers/{subscriber['id']}")
    page.get_by_role("link", name="all their events").click()
    rows = page.locator("#their-billing-events tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("stale")
    expect(rows.nth(1)).to_contain_text("subscription.cancelled")
    assert_fits_the_width(page)


def test_the_admin_api_lists_events_and_applies_one_again(console: TestClient) -> None:
    paid = stripe_event("invoice.paid", invoice(MERCH_PRICE), int(time.time()))
    send_stripe(console, paid)
    event_id = f"stripe:{paid['id']}"
    (listed,) = console.get("/admin/billing/events", headers=ADMIN).json()
    assert (listed["id"], listed["outcome"], listed["kept"], listed["prices"]) == (
        event_id,
        "ignored",
        True,
        [MERCH_PRICE],
    )
    path = f"/admin/billing/events/{event_id}/reapply"
    still = console.post(path, headers=ADMIN).json()
    assert still["status"].startswith("ignored: no plan lists")
    list_price(console, "stripe", MERCH_PRICE)
    assert console.post(path, headers=ADMIN).json()["status"] == "applied"
    assert_granted(console)
    assert console.post(path, headers=ADMIN).status_code == 409
    assert (
        console.post("/admin/billing/events/stripe:evt_nope/reapply", headers=ADMIN).status_code
        == 404
    )


def test_the_plans_page_refuses_an_id_another_plan_has_and_keeps_the_form(
    console: TestClient,
) -> None:
    list_price(console, "stripe", MERCH_PRICE)
    support = as_role(console, "support")
    page = support.get("/console/plans").text
    assert f'value="{MERCH_PRICE}"' in page
    typed = {
        "csrf": csrf_of(page),
        "new": "1",
        "plan_id": "merch",
        "name": "Merch",
        "shows": ["sharp-tech"],
        "stripe": f"{MERCH_PRICE} price_1Qother",
        "ghost": GHOST_TIER,
    }
    refused = support.post("/console/plans", data=typed)
    assert refused.status_code == 409
    assert f"stripe {MERCH_PRICE} (plan tech)" in refused.text
    assert f'value="{MERCH_PRICE} price_1Qother"' in refused.text
    assert f'value="{GHOST_TIER}"' in refused.text
    # Nothing was written: no plan merch, and tech keeps its price.
    (plan,) = console.get("/admin/plans", headers=ADMIN).json()
    assert (plan["id"], plan["external_ids"]) == ("tech", {"stripe": [MERCH_PRICE]})
