"""Stripe, Memberful, Patreon and Ghost webhooks: each provider's documented payloads,
signed the way each provider signs them, mapped into the billing event model."""

import copy
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.core.config import Settings
from app.core.db.engine import Database
from app.jobs import Runner
from app.main import create_app
from app.models import Subscriber
from tests.conftest import FIXTURES, Clock, feed_path
from tests.parsers import universal
from tests.test_feed_content import show_json

STRIPE_SECRET = "whsec_test_" + "s" * 32
MEMBERFUL_SECRET = "memberful-" + "m" * 32
PATREON_SECRET = "patreon-" + "p" * 32
GHOST_SECRET = "ghost-" + "g" * 32
CUSTOMER = "cus_Q1x2y3z4"
EMAIL = "payer@example.com"
TECH_PRICE = "price_1QtechMonthly"
BUNDLE_PRICE = "price_1QbundleYearly"
GHOST_MEMBER = "65f0aa00bb11cc22dd33ee44"
GHOST_TIER = "65f0c0ffee0000000000a001"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "stripe_webhook_secret": STRIPE_SECRET,
            "memberful_webhook_secret": MEMBERFUL_SECRET,
            "patreon_webhook_secret": PATREON_SECRET,
            "ghost_webhook_secret": GHOST_SECRET,
        }
    )


@pytest.fixture
def plans(admin: TestClient, show: dict[str, Any]) -> None:
    admin.post("/admin/shows", json=show_json("goat", "Greatest of All Talk"))
    tech = admin.put(
        "/admin/plans/tech",
        json={
            "name": "Sharp Tech",
            "shows": ["sharp-tech"],
            "external_ids": {
                "stripe": [TECH_PRICE],
                "memberful": ["41"],
                "patreon": ["9001"],
                "ghost": [GHOST_TIER],
            },
        },
    )
    assert tech.status_code == 200, tech.text
    bundle = admin.put(
        "/admin/plans/bundle",
        json={"name": "Everything", "shows": ["sharp-tech", "goat"], "external_ids": {}},
    )
    assert bundle.status_code == 200, bundle.text
    admin.put(
        "/admin/plans/bundle",
        json={
            "name": "Everything",
            "shows": ["sharp-tech", "goat"],
            "external_ids": {"stripe": [BUNDLE_PRICE]},
        },
    )


def subscribers(admin: TestClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = admin.get("/admin/subscribers").json()
    return found


def the_subscriber(admin: TestClient) -> dict[str, Any]:
    (found,) = subscribers(admin)
    return found


def entitled(admin: TestClient) -> set[str]:
    return {f["show"] for f in the_subscriber(admin)["feeds"] if f["entitled"]}


# Stripe ---------------------------------------------------------------------------------


STRIPE: dict[str, Any] = json.loads((FIXTURES / "stripe" / "fixtures3.json").read_text())
SUBSCRIPTION = "sub_1Qtest"


def stripe_object(name: str, **changes: Any) -> dict[str, Any]:
    """A copy of Stripe's own fixture for `name` (tests/fixtures/stripe/SOURCE.md), with
    the fields a test's scenario needs changed."""
    found: dict[str, Any] = copy.deepcopy(STRIPE["resources"][name])
    return found | changes


def stripe_event(
    kind: str, obj: dict[str, Any], created: int, *, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The `event` fixture, of type `kind`, carrying `obj` (and `previous_attributes`), in
    the API version of the fixtures."""
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return stripe_object(
        "event",
        id=f"evt_1Q{kind.replace('.', '_')}_{created}",
        api_version="2026-07-29.dahlia",
        created=created,
        data=data,
        pending_webhooks=1,
        type=kind,
    )


def subscription(status: str, price: str = TECH_PRICE) -> dict[str, Any]:
    """The `subscription` fixture: our customer, with `status`, one item at `price`."""
    sub = stripe_object("subscription", id=SUBSCRIPTION, customer=CUSTOMER, status=status)
    (item,) = sub["items"]["data"]
    item.update(subscription=SUBSCRIPTION)
    item["price"]["id"] = item["plan"]["id"] = price  # a plan is a price's older name
    return sub


def line(price: str, amount: int, *, proration: bool = False) -> dict[str, Any]:
    """The `line_item` fixture (API 2025-03-31.basil and later) as a line of our
    subscription: its price under `pricing.price_details` (optional in the spec, left out
    of the fixture), its proration flag under `parent.subscription_item_details`."""
    found = stripe_object("line_item", id=f"il_{price}_{amount}", amount=amount)
    found["parent"] |= {"type": "subscription_item_details", "invoice_item_details": None}
    found["parent"]["subscription_item_details"] |= {
        "proration": proration,
        "subscription": SUBSCRIPTION,
        "subscription_item": "si_1Qtest",
    }
    found["pricing"]["price_details"] = {"price": price, "product": "prod_Qtech"}
    return found


def line_before_basil(price: str, amount: int, *, proration: bool = False) -> dict[str, Any]:
    """The `line_item` fixture as it was before API 2025-03-31.basil: `price`, `proration`
    and `type` on the line itself."""
    found: dict[str, Any] = copy.deepcopy(STRIPE["resources_2025_02_14"]["line_item"])
    found |= {"amount": amount, "proration": proration, "type": "subscription"}
    found["price"]["id"] = price
    return found


def invoice(
    price: str = TECH_PRICE,
    *,
    lines: list[dict[str, Any]] | None = None,
    reason: str = "subscription_create",
) -> dict[str, Any]:
    """The `invoice` fixture, paid by our customer for our subscription: one line at
    `price`, or `lines`."""
    paid = stripe_object(
        "invoice",
        id="in_1Qtest",
        customer=CUSTOMER,
        customer_email=EMAIL,
        status="paid",
        billing_reason=reason,
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": None, "subscription": SUBSCRIPTION},
        },
    )
    paid["lines"]["data"] = lines if lines is not None else [line(price, 1200)]
    return paid


def charge(*, refunded: bool) -> dict[str, Any]:
    """The `charge` fixture, our customer's, refunded in full or in part."""
    return stripe_object(
        "charge",
        customer=CUSTOMER,
        amount=1200,
        amount_captured=1200,
        captured=True,
        refunded=refunded,
        amount_refunded=1200 if refunded else 500,
    )


CHECKOUT_SESSION = {
    "id": "cs_test_a1",
    "object": "checkout.session",
    "mode": "subscription",
    "status": "complete",
    "payment_status": "paid",
    "customer": CUSTOMER,
    "customer_details": {"email": EMAIL, "name": "Pat Payer"},
    "subscription": "sub_1Qtest",
}


def stripe_signature(body: bytes, *, secret: str = STRIPE_SECRET, age: int = 0) -> str:
    """How Stripe signs (https://docs.stripe.com/webhooks#verify-manually): test input;
    the app verifies with the stripe library."""
    timestamp = int(time.time()) - age
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def send_stripe(client: TestClient, event: dict[str, Any], **signing: Any) -> httpx.Response:
    body = json.dumps(event).encode()
    return client.post(
        "/webhooks/stripe",
        content=body,
        headers={
            "Stripe-Signature": stripe_signature(body, **signing),
            "Content-Type": "application/json; charset=utf-8",
        },
    )


def checkout(admin: TestClient, start: int, price: str = TECH_PRICE) -> list[str]:
    """A test-mode Checkout for a subscription, in the order Stripe sends its events."""
    sequence = [
        stripe_event("customer.subscription.created", subscription("incomplete", price), start),
        stripe_event("invoice.paid", invoice(price), start + 1),
        stripe_event("customer.subscription.updated", subscription("active", price), start + 1),
        stripe_event("checkout.session.completed", CHECKOUT_SESSION, start + 2),
    ]
    return [send_stripe(admin, event).json()["status"] for event in sequence]


@pytest.mark.usefixtures("plans")
def test_a_stripe_checkout_gives_the_plans_feeds_and_a_cancel_lapses_them(
    admin: TestClient,
) -> None:
    now = int(time.time())
    statuses = checkout(admin, now - 60)
    assert statuses == [
        "ignored: an event type Podpass does not use",  # incomplete: not paid yet
        "applied",
        "applied",  # the same second as invoice.paid, and as much a grant: both apply
        "applied: the email was already this",
    ]
    subscriber = the_subscriber(admin)
    assert (subscriber["email"], subscriber["external_id"]) == (EMAIL, CUSTOMER)
    assert entitled(admin) == {"sharp-tech"}
    path = feed_path(subscriber, "sharp-tech")
    assert admin.get(path).status_code == 200
    assert "Subscription inactive" not in admin.get(path).text

    upgrade = stripe_event(
        "customer.subscription.updated", subscription("active", BUNDLE_PRICE), now - 30
    )
    assert send_stripe(admin, upgrade).json()["status"] == "applied"
    assert entitled(admin) == {"sharp-tech", "goat"}

    cancel = stripe_event("customer.subscription.deleted", subscription("canceled"), now - 10)
    assert send_stripe(admin, cancel).json()["status"] == "applied"
    assert the_subscriber(admin)["status"] == "lapsed"
    (notice,) = universal(admin.get(path).content).entries
    assert notice.title.startswith("Subscription inactive")


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize("shape", [line, line_before_basil], ids=["basil", "before-basil"])
@pytest.mark.parametrize("reason", ["subscription_update", "subscription_cycle"])
def test_an_upgrades_proration_lines_do_not_undo_it(
    admin: TestClient, shape: Callable[..., dict[str, Any]], reason: str
) -> None:
    """After a move to a bigger plan, the invoice that settles it (at once, or with the next
    period's charge) lists a credit for the old price's unused time first."""
    now = int(time.time())
    checkout(admin, now - 60)
    upgrade = stripe_event(
        "customer.subscription.updated", subscription("active", BUNDLE_PRICE), now - 30
    )
    assert send_stripe(admin, upgrade).json()["status"] == "applied"
    assert entitled(admin) == {"sharp-tech", "goat"}

    lines = [
        shape(TECH_PRICE, -600, proration=True),  # unused time on Tech
        shape(BUNDLE_PRICE, 1500, proration=True),  # remaining time on the Bundle
    ]
    if reason == "subscription_cycle":
        lines.append(shape(BUNDLE_PRICE, 3000))  # the next period
    paid = stripe_event("invoice.paid", invoice(lines=lines, reason=reason), now - 29)
    assert send_stripe(admin, paid).json()["status"] == "applied"
    assert entitled(admin) == {"sharp-tech", "goat"}
    db: Database = admin.app.state.db  # type: ignore[attr-defined]
    with db.writer() as session:
        plan = session.scalar(select(Subscriber.plan_id))
    assert plan == "bundle"


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize("status", ["unpaid", "paused", "canceled", "incomplete_expired"])
def test_stripe_statuses_without_access_lapse(admin: TestClient, status: str) -> None:
    now = int(time.time())
    checkout(admin, now - 60)
    send_stripe(admin, stripe_event("customer.subscription.updated", subscription(status), now))
    assert the_subscriber(admin)["status"] == "lapsed"


def run_past_due_job(client: TestClient, clock: Clock) -> None:
    jobs: Runner = client.app.state.jobs  # type: ignore[attr-defined]
    (job,) = [job for job in jobs.jobs if job.name == "past_due"]
    job.run(clock())


def past_due_since(client: TestClient, subscriber_id: int) -> datetime | None:
    """The stored state issue 16's "payment problem" item will read."""
    db: Database = client.app.state.db  # type: ignore[attr-defined]
    with db.writer() as session:
        return session.scalar(
            select(Subscriber.past_due_since).where(Subscriber.id == subscriber_id)
        )


@pytest.mark.usefixtures("plans")
def test_past_due_keeps_access_for_the_grace_period_then_lapses(
    admin: TestClient, clock: Clock
) -> None:
    now = int(time.time())
    checkout(admin, now - 60)
    failed = stripe_event("customer.subscription.updated", subscription("past_due"), now - 30)
    assert send_stripe(admin, failed).json()["status"] == "applied"
    subscriber = the_subscriber(admin)
    assert subscriber["status"] == "active"
    assert past_due_since(admin, subscriber["id"]) is not None  # "payment problem" shows

    clock.advance(timedelta(days=2, hours=23))
    run_past_due_job(admin, clock)
    assert the_subscriber(admin)["status"] == "active"
    clock.advance(timedelta(hours=2))
    run_past_due_job(admin, clock)
    assert the_subscriber(admin)["status"] == "lapsed"
    assert past_due_since(admin, subscriber["id"]) is None
    (notice,) = universal(admin.get(feed_path(subscriber, "sharp-tech")).content).entries
    assert notice.title.startswith("Subscription inactive")


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize(
    "recovery",
    [
        stripe_event("invoice.paid", invoice(), 0),
        stripe_event("customer.subscription.updated", subscription("active"), 0),
    ],
    ids=["invoice.paid", "active"],
)
def test_a_payment_within_the_grace_period_keeps_access(
    admin: TestClient, clock: Clock, recovery: dict[str, Any]
) -> None:
    now = int(time.time())
    checkout(admin, now - 60)
    send_stripe(
        admin, stripe_event("customer.subscription.updated", subscription("past_due"), now - 30)
    )
    recovery = recovery | {"id": f"evt_recovered_{now}", "created": now - 10}
    assert send_stripe(admin, recovery).json()["status"] == "applied"
    assert past_due_since(admin, the_subscriber(admin)["id"]) is None
    clock.advance(timedelta(days=10))
    run_past_due_job(admin, clock)
    assert the_subscriber(admin)["status"] == "active"


@pytest.mark.usefixtures("plans")
def test_stripe_refunds_and_email_changes(admin: TestClient) -> None:
    now = int(time.time())
    checkout(admin, now - 60)
    changed = stripe_event(
        "customer.updated",
        {"id": CUSTOMER, "object": "customer", "email": "new@example.com"},
        now - 20,
        previous={"email": EMAIL},
    )
    assert send_stripe(admin, changed).json()["status"] == "applied"
    assert the_subscriber(admin)["email"] == "new@example.com"

    partial = charge(refunded=False)
    send_stripe(admin, stripe_event("charge.refunded", partial, now - 10))
    assert the_subscriber(admin)["status"] == "active"
    full = charge(refunded=True)
    assert send_stripe(admin, stripe_event("charge.refunded", full, now)).json()["status"] == (
        "applied"
    )
    assert the_subscriber(admin)["status"] == "revoked"


@pytest.mark.usefixtures("plans")
def test_a_price_no_plan_lists_is_ignored_until_mapped(admin: TestClient) -> None:
    paid = stripe_event("invoice.paid", invoice("price_1Qmerch"), int(time.time()))
    first = send_stripe(admin, paid)
    assert first.status_code == 200
    assert first.json()["status"] == "ignored: no plan lists these stripe ids (price_1Qmerch)"
    assert subscribers(admin) == []
    admin.put(
        "/admin/plans/merch",
        json={"name": "Merch", "shows": ["goat"], "external_ids": {"stripe": ["price_1Qmerch"]}},
    )
    assert send_stripe(admin, paid).json()["status"] == "applied"  # resent from Stripe
    assert entitled(admin) == {"goat"}


@pytest.mark.usefixtures("plans")
def test_stripe_event_types_podpass_does_not_use_answer_200(admin: TestClient) -> None:
    other = stripe_event("payment_intent.created", {"id": "pi_1", "object": "payment_intent"}, 1)
    response = send_stripe(admin, other)
    assert response.status_code == 200
    assert response.json()["status"].startswith("ignored")


# Memberful, Patreon, Ghost --------------------------------------------------------------


def memberful_subscription(event: str, *, active: bool, plan_id: int = 41) -> dict[str, Any]:
    """https://memberful.com/help/custom-development-and-api/webhook-event-reference/"""
    return {
        "event": event,
        "subscription": {
            "active": active,
            "autorenew": True,
            "created_at": "2026-11-01T10:00:00Z",
            "expires_at": "2026-12-01T10:00:00Z",
            "id": 7,
            "member": {
                "created_at": 1761991200,
                "email": EMAIL,
                "first_name": "Pat",
                "full_name": "Pat Payer",
                "id": 1234,
                "last_name": "Payer",
                "stripe_customer_id": "cus_00000",
                "unrestricted_access": False,
                "username": "pat",
            },
            "subscription_plan": {
                "id": plan_id,
                "interval_count": 1,
                "interval_unit": "month",
                "name": "Sharp Tech monthly",
                "price_cents": 1200,
                "slug": f"{plan_id}-sharp-tech-monthly",
            },
            "trial_end_at": None,
            "trial_start_at": None,
        },
    }


def patreon_member(status: str | None, tiers: list[str]) -> dict[str, Any]:
    """https://docs.patreon.com/#webhooks: a JSON:API member document."""
    return {
        "data": {
            "type": "member",
            "id": "0b6d1a2e-3c4f-4a5b-8c9d-0e1f2a3b4c5d",
            "attributes": {
                "email": EMAIL,
                "full_name": "Pat Payer",
                "patron_status": status,
                "last_charge_status": "Paid" if status == "active_patron" else "Declined",
                "last_charge_date": "2026-11-01T10:00:00.000+00:00",
                "pledge_relationship_start": "2026-10-01T10:00:00.000+00:00",
                "currently_entitled_amount_cents": 500 if tiers else 0,
                "will_pay_amount_cents": 500,
            },
            "relationships": {
                "currently_entitled_tiers": {"data": [{"id": t, "type": "tier"} for t in tiers]},
                "campaign": {"data": {"id": "112233", "type": "campaign"}},
                "user": {"data": {"id": "445566", "type": "user"}},
            },
        },
        "links": {"self": "https://www.patreon.com/api/oauth2/v2/members/0b6d1a2e"},
    }


GHOST_BODIES: dict[str, Any] = json.loads((FIXTURES / "ghost" / "member-webhooks.json").read_text())


def ghost_member(event: str, status: str, updated_at: str) -> dict[str, Any]:
    """The body Ghost sends for `event`, from Ghost's own webhook snapshots
    (tests/fixtures/ghost/SOURCE.md), for our member: no event name in it, only
    `current` and `previous`."""
    body: dict[str, Any] = copy.deepcopy(GHOST_BODIES[event])
    change = body["member"]
    member = change["previous" if event == "member.deleted" else "current"]
    member.update(id=GHOST_MEMBER, email=EMAIL, status=status, updated_at=updated_at)
    if event != "member.deleted":
        tier = GHOST_BODIES["tier"] | {"id": GHOST_TIER, "name": "Sharp Tech"}
        member["tiers"] = [] if status == "free" else [tier]
    if event == "member.edited":
        change["previous"] = {"status": "paid", "updated_at": "2026-11-28T09:00:00.000Z"}
    return body


Sender = Callable[..., httpx.Response]


def send_memberful(
    client: TestClient, payload: dict[str, Any], *, secret: str = MEMBERFUL_SECRET, **_: Any
) -> httpx.Response:
    body = json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        "/webhooks/memberful",
        content=body,
        headers={"X-Memberful-Webhook-Signature": signature, "Content-Type": "application/json"},
    )


def send_patreon(
    client: TestClient,
    payload: dict[str, Any],
    *,
    secret: str = PATREON_SECRET,
    trigger: str = "members:pledge:update",
    **_: Any,
) -> httpx.Response:
    body = json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.md5).hexdigest()
    return client.post(
        "/webhooks/patreon",
        content=body,
        headers={
            "X-Patreon-Signature": signature,
            "X-Patreon-Event": trigger,
            "Content-Type": "application/json",
        },
    )


def send_ghost(
    client: TestClient,
    payload: dict[str, Any],
    *,
    secret: str = GHOST_SECRET,
    age: float = 0,
    sent_ms: int | None = None,
) -> httpx.Response:
    body = json.dumps(payload).encode()
    ts = sent_ms if sent_ms is not None else int((time.time() - age) * 1000)
    mac = hmac.new(secret.encode(), body + str(ts).encode(), hashlib.sha256).hexdigest()
    return client.post(
        "/webhooks/ghost",
        content=body,
        headers={"X-Ghost-Signature": f"sha256={mac}, t={ts}", "Content-Type": "application/json"},
    )


GRANTS: dict[str, tuple[Sender, dict[str, Any]]] = {
    "memberful": (send_memberful, memberful_subscription("subscription.created", active=True)),
    "patreon": (send_patreon, patreon_member("active_patron", ["9001"])),
    "ghost": (send_ghost, ghost_member("member.added", "paid", "2026-11-28T10:00:00.000Z")),
}
ENDS: dict[str, dict[str, Any]] = {
    "memberful": memberful_subscription("subscription.deactivated", active=False),
    "patreon": patreon_member("former_patron", []),
    "ghost": ghost_member("member.edited", "free", "2026-11-28T10:05:00.000Z"),
}
PROVIDERS = sorted(GRANTS)


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_grant_then_an_end(admin: TestClient, provider: str) -> None:
    send, grant = GRANTS[provider]
    response = send(admin, grant)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "applied"
    subscriber = the_subscriber(admin)
    assert subscriber["email"] == EMAIL
    assert subscriber["external_id"].startswith(f"{provider}:")
    assert entitled(admin) == {"sharp-tech"}
    assert send(admin, ENDS[provider]).json()["status"] == "applied"
    assert the_subscriber(admin)["status"] == "lapsed"


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_duplicate_delivery_changes_nothing(admin: TestClient, provider: str) -> None:
    send, grant = GRANTS[provider]
    send(admin, grant)
    ghost_sent = int(time.time() * 1000) + 1  # Ghost's retries resend the same header too
    send(admin, ENDS[provider], sent_ms=ghost_sent)
    admin.post(f"/admin/subscribers/{the_subscriber(admin)['id']}/reinstate")
    again = send(admin, ENDS[provider], sent_ms=ghost_sent)
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert the_subscriber(admin)["status"] == "active"


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_old_delivery_replayed_after_a_newer_one_changes_nothing(
    admin: TestClient, provider: str
) -> None:
    """Memberful and Patreon send no event time: a replayed body is caught as the same
    event. Ghost's is refused for its old timestamp."""
    send, grant = GRANTS[provider]
    captured_at = time.time()
    send(admin, grant)
    send(admin, ENDS[provider])
    if provider == "ghost":
        replay = send(admin, grant, age=time.time() - captured_at + 3600)
        assert replay.status_code == 400
        assert "more than 300 s" in replay.json()["detail"]
    else:
        assert send(admin, grant).json()["status"] == "duplicate"
    assert the_subscriber(admin)["status"] == "lapsed"


@pytest.mark.usefixtures("plans")
def test_ghost_events_apply_in_the_order_ghost_sent_them(admin: TestClient) -> None:
    sent = int(time.time() * 1000)
    send_ghost(admin, GRANTS["ghost"][1], sent_ms=sent - 2000)
    send_ghost(admin, ENDS["ghost"], sent_ms=sent)
    late = send_ghost(
        admin,
        ghost_member("member.edited", "comped", "2026-11-28T10:01:00.000Z"),
        sent_ms=sent - 1000,
    )
    assert late.json()["status"].startswith("stale")
    assert the_subscriber(admin)["status"] == "lapsed"


@pytest.mark.usefixtures("plans")
def test_ghost_bodies_name_no_event_and_current_and_previous_tell_them_apart(
    admin: TestClient,
) -> None:
    """Ghost's real bodies (tests/fixtures/ghost/SOURCE.md) carry no event name: added has
    an empty `previous`, edited a partial one, deleted an empty `current`."""
    sent = int(time.time() * 1000)
    added = ghost_member("member.added", "paid", "2026-11-28T10:00:00.000Z")
    assert set(added) == {"member"}
    assert send_ghost(admin, added, sent_ms=sent - 2000).json()["status"] == "applied"
    assert entitled(admin) == {"sharp-tech"}
    comped = ghost_member("member.edited", "comped", "2026-11-28T10:01:00.000Z")
    assert send_ghost(admin, comped, sent_ms=sent - 1000).json()["status"] == "applied"
    assert the_subscriber(admin)["status"] == "active"
    deleted = ghost_member("member.deleted", "comped", "2026-11-28T10:01:00.000Z")
    assert deleted["member"]["current"] == {}
    assert send_ghost(admin, deleted, sent_ms=sent).json()["status"] == "applied"
    assert the_subscriber(admin)["status"] == "lapsed"

    nameless = {"member": {"current": {"email": EMAIL, "status": "paid"}, "previous": {}}}
    refused = send_ghost(admin, nameless)
    assert refused.status_code == 422
    assert "id" in refused.json()["detail"]


@pytest.mark.usefixtures("plans")
def test_stripe_events_apply_in_event_time_not_arrival_order(admin: TestClient) -> None:
    now = int(time.time())
    checkout(admin, now - 60)
    send_stripe(admin, stripe_event("customer.subscription.deleted", subscription("canceled"), now))
    late = stripe_event("customer.subscription.updated", subscription("active"), now - 30)
    assert send_stripe(admin, late).json()["status"].startswith("stale")
    assert the_subscriber(admin)["status"] == "lapsed"


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize("refund_first", [False, True], ids=["cancel-first", "refund-first"])
def test_a_refund_in_the_same_second_as_a_cancel_revokes(
    admin: TestClient, refund_first: bool
) -> None:
    """`created` is whole seconds: a full refund and the cancel it came with share one. In
    either order of arrival the refund comes last, and "stale" is for older events only."""
    now = int(time.time())
    checkout(admin, now - 60)
    cancel = stripe_event("customer.subscription.deleted", subscription("canceled"), now)
    refund = stripe_event("charge.refunded", charge(refunded=True), now)
    if refund_first:
        assert send_stripe(admin, refund).json()["status"] == "applied"
        assert send_stripe(admin, cancel).json()["status"] == (
            "superseded: subscription.refunded, of the same second, comes after it"
        )
    else:
        assert send_stripe(admin, cancel).json()["status"] == "applied"
        assert send_stripe(admin, refund).json()["status"] == "applied"
    assert the_subscriber(admin)["status"] == "revoked"
    assert send_stripe(admin, refund).json()["status"] == "duplicate"  # resent: no change
    assert the_subscriber(admin)["status"] == "revoked"
    older = stripe_event("invoice.paid", invoice(), now - 1) | {"id": "evt_late_payment"}
    assert send_stripe(admin, older).json()["status"] == "stale: a later event was already applied"


@pytest.mark.usefixtures("plans")
def test_stripe_duplicates_and_replays(admin: TestClient) -> None:
    now = int(time.time())
    checkout(admin, now - 60)
    cancel = stripe_event("customer.subscription.deleted", subscription("canceled"), now)
    assert send_stripe(admin, cancel).json()["status"] == "applied"
    admin.post(f"/admin/subscribers/{the_subscriber(admin)['id']}/reinstate")
    assert send_stripe(admin, cancel).json()["status"] == "duplicate"
    replayed = send_stripe(admin, cancel | {"id": "evt_other"}, age=3600)
    assert replayed.status_code == 400
    assert "Stripe-Signature" in replayed.json()["detail"]
    assert the_subscriber(admin)["status"] == "active"


SENDERS: dict[str, Sender] = {
    "stripe": send_stripe,
    "memberful": send_memberful,
    "patreon": send_patreon,
    "ghost": send_ghost,
}


def first_grant(provider: str) -> dict[str, Any]:
    if provider == "stripe":
        return stripe_event("invoice.paid", invoice(), int(time.time()))
    return GRANTS[provider][1]


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize("provider", sorted(SENDERS))
def test_bad_signatures_are_refused(admin: TestClient, provider: str) -> None:
    send = SENDERS[provider]
    response = send(admin, first_grant(provider), secret="not-the-secret-" + "x" * 20)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_signature"
    unsigned = admin.post(f"/webhooks/{provider}", json=first_grant(provider))
    assert unsigned.status_code == 400
    assert subscribers(admin) == []


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize("provider", sorted(SENDERS))
def test_unknown_event_types_answer_200(admin: TestClient, provider: str) -> None:
    unknown: dict[str, dict[str, Any]] = {
        "stripe": stripe_event("product.created", {"id": "prod_1", "object": "product"}, 1),
        "memberful": {"event": "download.created", "download": {"id": 1, "name": "PDF"}},
        "patreon": {"data": {"type": "post", "id": "77", "attributes": {"title": "Hi"}}},
        # serialize.js in TryGhost/Ghost: `{<resource>: {current, previous}}`
        "ghost": {"post": {"current": {"id": "p1", "title": "Hi"}, "previous": {}}},
    }
    send = SENDERS[provider]
    options = {"trigger": "posts:publish"} if provider == "patreon" else {}
    response = send(admin, unknown[provider], **options)
    assert response.status_code == 200, response.text
    assert response.json()["status"].startswith("ignored")


@pytest.mark.parametrize("provider", sorted(SENDERS))
def test_each_provider_is_off_until_its_secret_is_set(settings: Settings, provider: str) -> None:
    off = settings.model_copy(update={f"{provider}_webhook_secret": ""})
    with TestClient(create_app(off)) as client:
        response = SENDERS[provider](client, first_grant(provider))
    assert response.status_code == 404
    assert f"PODPASS_{provider.upper()}_WEBHOOK_SECRET" in response.json()["detail"]


@pytest.mark.usefixtures("plans")
def test_a_declined_patreon_charge_is_past_due_then_lapses(admin: TestClient, clock: Clock) -> None:
    send_patreon(admin, patreon_member("active_patron", ["9001"]))
    declined = send_patreon(admin, patreon_member("declined_patron", ["9001"]))
    assert declined.json()["status"] == "applied"
    assert the_subscriber(admin)["status"] == "active"
    clock.advance(timedelta(days=4))
    run_past_due_job(admin, clock)
    assert the_subscriber(admin)["status"] == "lapsed"


@pytest.mark.usefixtures("plans")
def test_a_memberful_email_change(admin: TestClient) -> None:
    send_memberful(admin, memberful_subscription("subscription.created", active=True))
    changed = {
        "event": "member_updated",
        "member": {"id": 1234, "email": "renamed@example.com", "full_name": "Pat Payer"},
        "changed": {"email": [EMAIL, "renamed@example.com"]},
    }
    assert send_memberful(admin, changed).json()["status"] == "applied"
    assert the_subscriber(admin)["email"] == "renamed@example.com"


def test_plans_list_provider_ids_and_each_id_buys_one_plan(
    admin: TestClient, show: dict[str, Any]
) -> None:
    ids = {"stripe": ["price_a", "price_b"], "ghost": ["tier_1"]}
    made = admin.put(
        "/admin/plans/a", json={"name": "A", "shows": ["sharp-tech"], "external_ids": ids}
    )
    assert made.json()["external_ids"] == ids
    renamed = admin.put("/admin/plans/a", json={"name": "A2", "shows": ["sharp-tech"]})
    assert renamed.json()["external_ids"] == ids  # omitted: kept
    taken = admin.put(
        "/admin/plans/b",
        json={"name": "B", "shows": ["sharp-tech"], "external_ids": {"stripe": ["price_b"]}},
    )
    assert taken.status_code == 409
    assert "stripe price_b (plan a)" in taken.json()["detail"]
    admin.put(
        "/admin/plans/a",
        json={"name": "A", "shows": ["sharp-tech"], "external_ids": {"stripe": ["price_a"]}},
    )
    moved = admin.put(
        "/admin/plans/b",
        json={"name": "B", "shows": ["sharp-tech"], "external_ids": {"stripe": ["price_b"]}},
    )
    assert moved.status_code == 200
    assert admin.get("/admin/plans").json()[0]["external_ids"] == {"stripe": ["price_a"]}
