"""The audit log: actions done through the API, the console and a billing webhook, read back
through GET /admin/audit and the console's page; a change rolled back leaves no row, and
only owners read it."""

import io
import re
import time
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy import update

from app.cli import main as cli
from app.core.config import Settings
from app.core.db.engine import build_engine
from app.models import OutboxMessage
from tests.browser import assert_fits_the_width
from tests.conftest import ADMIN_KEY, M4A, SHOW, Clock, feed_path, refused_writes, subscribe, upload
from tests.test_billing_providers import (
    CUSTOMER,
    EMAIL,
    checkout,
    run_past_due_job,
    send_stripe,
    stripe_event,
    subscription,
)
from tests.test_billing_providers import plans as plans
from tests.test_billing_providers import settings as settings
from tests.test_console import (
    PASSWORD,
    as_role,
    csrf_of,
    log_in,
    make_staff,
    open_alert,
    staff_in_browser,
    subscriber_with_feed,
)
from tests.test_portal import page_link

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def audit_log(client: TestClient | httpx.Client, **filters: str | int) -> list[dict[str, Any]]:
    response = client.get("/admin/audit", params=filters, headers=ADMIN)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


def said(events: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """Who, how, what and on what: oldest first, as the test did them."""
    return [
        (event["actor"], event["via"], event["action"], event["target_label"])
        for event in reversed(events)
    ]


def own_api_key(client: TestClient, email: str, role: str) -> str:
    """A staff member's own key, made as they would: logged in, with the session's token."""
    make_staff(client, email, role)
    assert log_in(client, email).status_code == 303
    csrf = csrf_of(client.get("/console/keys").text)
    made = client.post(
        "/admin/me/api-keys", json={"name": "uploads"}, headers={"X-CSRF-Token": csrf}
    )
    assert made.status_code == 201, made.text
    client.cookies.clear()
    key: str = made.json()["key"]
    return key


def test_an_editors_uploads_and_publishes_by_api_key_are_logged(client: TestClient) -> None:
    assert client.post("/admin/shows", json=SHOW, headers=ADMIN).status_code == 201
    client.headers["Authorization"] = f"Bearer {own_api_key(client, 'ed@example.com', 'editor')}"
    uploaded = upload(client, "sharp-tech", title="Daily Update", publish=True)
    assert uploaded.status_code == 201, uploaded.text
    episode_id = uploaded.json()["id"]
    fixed = {"audio": ("fixed.m4a", M4A.read_bytes(), "audio/mp4")}
    assert client.put(f"/admin/episodes/{episode_id}/audio", files=fixed).status_code == 200
    assert client.post(f"/admin/episodes/{episode_id}/unpublish").status_code == 200
    assert client.delete(f"/admin/episodes/{episode_id}").status_code == 204

    assert said(audit_log(client, actor="ED@example.com")) == [
        ("ed@example.com", "console", "apikey.create", f"uploads (pp_{key_id(client)}…)"),
        ("ed@example.com", "api", "episode.upload", "Daily Update"),
        ("ed@example.com", "api", "episode.publish", "Daily Update"),
        ("ed@example.com", "api", "episode.replace_audio", "Daily Update"),
        ("ed@example.com", "api", "episode.unpublish", "Daily Update"),
        ("ed@example.com", "api", "episode.delete", "Daily Update"),
    ]
    episode_events = audit_log(client, target_type="episode", target_id=str(episode_id))
    assert len(episode_events) == 5  # the deleted episode's title stays in its events
    assert episode_events[-1]["detail"] == {"file": "episode.mp3"}
    assert {event["actor_user_id"] for event in episode_events} == {
        client.get("/admin/me").json()["user_id"]
    }
    (created,) = audit_log(client, action="account.create")
    assert said([created]) == [("PODPASS_ADMIN_KEY", "api", "account.create", "ed@example.com")]
    assert created["detail"] == {"role": "editor"}
    assert said(audit_log(client, action="show.create")) == [
        ("PODPASS_ADMIN_KEY", "api", "show.create", "sharp-tech")
    ]


def key_id(client: TestClient) -> str:
    """The public part of the key the client sends (pp_ + 8 characters + the secret)."""
    return str(client.headers["Authorization"]).removeprefix("Bearer pp_")[:8]


def test_support_revoking_a_subscriber_in_the_console_is_logged_and_shown(
    client: TestClient,
) -> None:
    assert client.post("/admin/shows", json=SHOW, headers=ADMIN).status_code == 201
    subscriber = subscriber_with_feed(client, "listener@example.com")
    as_role(client, "support")
    page = client.get(f"/console/subscribers/{subscriber['id']}")
    revoked = client.post(
        f"/console/subscribers/{subscriber['id']}/revoke",
        data={"csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    # The effect, outside the console: the API says they are revoked, and who did it.
    status = client.get(f"/admin/subscribers/{subscriber['id']}", headers=ADMIN).json()["status"]
    assert status == "revoked"
    (event,) = audit_log(client, action="subscriber.revoke")
    assert said([event]) == [
        ("support@example.com", "console", "subscriber.revoke", "listener@example.com")
    ]
    assert (event["target_type"], event["target_id"]) == ("subscriber", str(subscriber["id"]))

    assert client.get("/console/audit").status_code == 403  # support reads no audit log
    client.cookies.clear()
    as_role(client, "owner")
    shown = client.get("/console/audit", params={"actor": "support@example.com"})
    assert shown.status_code == 200
    assert actions_shown(shown.text) == ["subscriber.revoke"]  # not the admin key's
    assert "listener@example.com" in shown.text
    by_action = client.get("/console/audit", params={"action": "subscriber.create"}).text
    assert actions_shown(by_action) == ["subscriber.create"]
    everything = client.get("/console/audit").text
    assert actions_shown(everything)[:2] == ["account.create", "subscriber.revoke"]
    target = {"target_type": "subscriber", "target_id": subscriber["id"]}
    assert escape(urlencode(target)) in everything  # each entry links to its history
    history = client.get("/console/audit", params=target).text
    assert actions_shown(history) == ["subscriber.revoke", "subscriber.create"]


def actions_shown(page_html: str) -> list[str]:
    return re.findall(r'<td data-label="Action" class="mono">([^<]+)</td>', page_html)


@pytest.mark.usefixtures("plans")
def test_a_stripe_webhook_is_logged_as_billing(admin: TestClient) -> None:
    start = int(time.time()) - 60
    checkout(admin, start)
    cancelled = stripe_event("customer.subscription.deleted", subscription("canceled"), start + 10)
    assert send_stripe(admin, cancelled).json()["status"] == "applied"
    assert said(audit_log(admin, actor="billing:stripe")) == [
        ("billing:stripe", "billing", "subscriber.create", EMAIL),
        ("billing:stripe", "billing", "subscriber.shows", EMAIL),
        ("billing:stripe", "billing", "subscriber.plan", EMAIL),
        ("billing:stripe", "billing", "subscriber.lapse", EMAIL),
    ]
    subscriber = admin.get("/admin/subscribers", params={"external_id": CUSTOMER}).json()[0]
    assert subscriber["status"] == "lapsed"
    assert said(audit_log(admin, target_type="plan")) == [
        ("PODPASS_ADMIN_KEY", "api", "plan.create", "Sharp Tech"),
        ("PODPASS_ADMIN_KEY", "api", "plan.create", "Everything"),
        ("PODPASS_ADMIN_KEY", "api", "plan.update", "Everything"),
    ]


@pytest.mark.usefixtures("plans")
def test_the_past_due_job_lapsing_a_subscriber_is_logged_as_system(
    admin: TestClient, clock: Clock
) -> None:
    start = int(time.time()) - 60
    checkout(admin, start)
    failed = stripe_event("customer.subscription.updated", subscription("past_due"), start + 30)
    assert send_stripe(admin, failed).json()["status"] == "applied"
    clock.advance(timedelta(days=4))
    run_past_due_job(admin, clock)
    (lapsed,) = audit_log(admin, action="subscriber.lapse")
    assert said([lapsed]) == [("system", "system", "subscriber.lapse", EMAIL)]
    # At the job's time (the test's clock, four days on), not the wall clock's.
    assert datetime.fromisoformat(lapsed["at"]) > datetime.now(UTC) + timedelta(days=3)


def test_a_podpass_command_is_logged_as_the_command_line(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    args = ["users", "create", "--email", "ben@example.com", "--role", "owner"]
    assert cli([*args, "--password-stdin"]) == 0
    assert said(audit_log(client)) == [("command line", "cli", "account.create", "ben@example.com")]


def test_a_subscriber_resetting_their_own_url_is_logged_as_them(admin: TestClient) -> None:
    admin.post("/admin/shows", json=SHOW)
    subscriber = subscribe(admin, "listener@example.com", "sharp-tech")
    path = page_link(admin, subscriber).removeprefix("http://testserver")
    reset = admin.post(f"{path}/reset/sharp-tech", data={"confirm": "yes"}, follow_redirects=False)
    assert reset.status_code == 303
    now = admin.get(f"/admin/subscribers/{subscriber['id']}").json()
    assert feed_path(now, "sharp-tech") != feed_path(subscriber, "sharp-tech")
    assert said(audit_log(admin, action="subscriber.rotate")) == [
        ("listener@example.com", "portal", "subscriber.rotate", "listener@example.com")
    ]


def test_an_acknowledged_alert_and_a_retried_email_are_logged(
    settings: Settings, admin: TestClient, clock: Clock
) -> None:
    show = admin.post("/admin/shows", json=SHOW).json()
    subscriber = subscribe(admin, "listener@example.com", "sharp-tech")
    feed_url = subscriber["feeds"][0]["feed_url"]
    alert_id = open_alert(settings.database_url, feed_url, subscriber["id"], clock())
    assert admin.post(f"/admin/sharing/alerts/{alert_id}/acknowledge").status_code == 200
    (welcome,) = admin.get("/admin/outbox").json()
    engine = build_engine(settings.database_url)
    with engine.begin() as connection:  # out of tries
        connection.execute(
            update(OutboxMessage).where(OutboxMessage.id == welcome["id"]).values(status="dead")
        )
    engine.dispose()
    assert admin.post(f"/admin/outbox/{welcome['id']}/retry").status_code == 200
    assert said(audit_log(admin))[-2:] == [
        (
            "PODPASS_ADMIN_KEY",
            "api",
            "alert.acknowledge",
            f"subscriber #{subscriber['id']}'s feed of show #{show['id']}",
        ),
        ("PODPASS_ADMIN_KEY", "api", "outbox.retry", "welcome to listener@example.com"),
    ]


def test_a_change_that_fails_leaves_no_audit_row(settings: Settings, admin: TestClient) -> None:
    admin.post("/admin/shows", json=SHOW)
    # The subscriber is recorded, then their welcome email cannot be queued: all goes.
    with refused_writes(settings.database_url, "outbox_messages"):
        refused = admin.post(
            "/admin/subscribers", json={"email": "listener@example.com", "shows": ["sharp-tech"]}
        )
        assert refused.status_code == 500
    assert admin.get("/admin/subscribers").json() == []
    assert audit_log(admin, target_type="subscriber") == []


def test_a_change_whose_audit_row_fails_is_not_made(settings: Settings, admin: TestClient) -> None:
    admin.post("/admin/shows", json=SHOW)
    episode_id = upload(admin, "sharp-tech", title="Draft").json()["id"]
    with refused_writes(settings.database_url, "audit_events"):
        assert admin.post(f"/admin/episodes/{episode_id}/publish").status_code == 500
    assert admin.get(f"/admin/episodes/{episode_id}").json()["status"] == "draft"


@pytest.mark.parametrize("role", ["editor", "support", "analyst"])
def test_only_owners_read_the_audit_log(client: TestClient, role: str) -> None:
    as_role(client, role)
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/console/audit").status_code == 403
    assert "/console/audit" not in client.get("/console/keys").text  # nor see it in the nav


def test_filters_by_day_in_the_publishers_time_and_pages(client: TestClient, clock: Clock) -> None:
    client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    for number in range(3):
        make_staff(client, f"staff{number}@example.com", "analyst")
        clock.advance(timedelta(days=1))
    days = [event["at"][:10] for event in audit_log(client)]
    assert len(set(days)) == 3
    assert said(audit_log(client, **{"from": days[1], "to": days[1]})) == [
        ("PODPASS_ADMIN_KEY", "api", "account.create", "staff1@example.com")
    ]
    assert len(audit_log(client, **{"from": days[1]})) == 2
    newest, older = audit_log(client, limit=1), audit_log(client, limit=1, offset=1)
    assert newest[0]["target_label"] == "staff2@example.com"
    assert older[0]["target_label"] == "staff1@example.com"
    assert client.get("/admin/audit", params={"action": "episode.eat"}).status_code == 422
    # The calendar's ends bound nothing, in a time zone either side of UTC too.
    for zone in ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"):
        client.app.state.settings.timezone = ZoneInfo(zone)  # type: ignore[attr-defined]
        edges = {"from": "0001-01-01", "to": "9999-12-31"}
        assert len(audit_log(client, **edges)) == 3


def test_the_audit_page_on_a_desktop_and_a_phone(
    browser: Browser, live: tuple[str, httpx.Client]
) -> None:
    base, admin = live
    make_staff(admin, "owner@example.com", "owner")
    for number in range(3):
        make_staff(admin, f"a-rather-long-address-{number}@staff.example.com", "support")
    for width in (1280, 390):
        page = staff_in_browser(browser, base, "owner@example.com", width=width)
        page.get_by_role("navigation", name="Console").get_by_role("link", name="Audit log").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
        expect(page.locator("tr[data-event]")).to_have_count(4)
        page.get_by_label("Action").select_option("account.create")
        page.get_by_label("Who (email)").fill("PODPASS_ADMIN_KEY")
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("tr[data-event]")).to_have_count(4)
        page.get_by_label("Who (email)").fill("owner@example.com")
        page.get_by_role("button", name="Filter").click()
        expect(page.get_by_text("Nothing was done that matches these filters.")).to_be_visible()
        page.get_by_label("Who (email)").fill("")
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("tr[data-event]").first).to_contain_text(
            "a-rather-long-address-2@staff.example.com"
        )
        assert_fits_the_width(page)
        page.get_by_role("link", name="a-rather-long-address-1@staff.example.com").click()
        expect(page.locator("tr[data-event]")).to_have_count(1)
        expect(page.get_by_text("The history of account")).to_be_visible()
        page.context.close()
