"""The publisher console's own pages (login, dashboard, subscribers, alerts, accounts, API
keys): over HTTP through the real app, and in headless Chromium against a live server."""

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from app.accounts.sessions import COOKIE, Sessions
from app.console import service
from app.console.deps import safe_next
from app.core.clock import utcnow
from app.core.config import Settings
from app.core.db.engine import build_engine
from app.core.db.session import transaction
from app.core.tokens import TOKEN_ID_LENGTH
from app.models import AlertStatus, Download, FeedAccess, OutboxMessage, SharingAlert
from app.sharing.schemas import Evidence, Reason
from tests.browser import assert_fits_the_width, open_page
from tests.conftest import ADMIN_KEY, SECRET_KEY, SHOW, Clock, feed_path, upload
from tests.test_feed_content import show_json

PASSWORD = "correct horse battery"
NEW = "a brand new passphrase"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
DOCS = Path(__file__).parent.parent / "docs"
SVG = "{http://www.w3.org/2000/svg}"


# Helpers


def make_staff(api: TestClient | httpx.Client, email: str, role: str) -> int:
    response = api.post(
        "/admin/users",
        json={"email": email, "role": role, "password": PASSWORD},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    user_id: int = response.json()["id"]
    return user_id


def log_in(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    form = client.get("/console/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
    assert token, form.text
    return client.post(
        "/console/login",
        data={"email": email, "password": password, "login_csrf": token[1], "next": "/console/"},
        follow_redirects=False,
    )


def csrf_of(page_html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page_html)
    assert found, "no CSRF token on the page"
    return found[1]


def subscriber_with_feed(client: TestClient, email: str, **fields: Any) -> dict[str, Any]:
    response = client.post(
        "/admin/subscribers",
        json={"email": email, "shows": ["sharp-tech"], **fields},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@contextmanager
def statements_of(client: TestClient) -> Iterator[list[str]]:
    """The SQL statements the app's database runs inside the block."""
    engine = client.app.state.db.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def console(client: TestClient) -> TestClient:
    """The test client with Sharp Tech, before anyone logs in."""
    assert client.post("/admin/shows", json=SHOW, headers=ADMIN).status_code == 201
    return client


def as_role(client: TestClient, role: str) -> TestClient:
    make_staff(client, f"{role}@example.com", role)
    assert log_in(client, f"{role}@example.com").status_code == 303
    return client


def open_alert(database_url: str, feed_url: str, subscriber_id: int, now: datetime) -> int:
    """A sharing alert on a feed URL, as detection would open it."""
    token_id = feed_url.rsplit("/p/", 1)[1].split("/")[0][:TOKEN_ID_LENGTH]
    evidence = Evidence(
        detected_at=now,
        window_days=7,
        first_seen=now - timedelta(days=3),
        last_seen=now,
        downloads=14,
        prefix_count=9,
        app_count=5,
        device_count=6,
        prefixes=[f"203.0.{n}.0/24" for n in range(9)],
        apps=["Apple Podcasts", "Overcast", "Pocket Casts", "Castro", "AntennaPod"],
        devices=["iPhone", "Android"],
        downloads_per_episode={"1": 14},
        most_prefixes_per_episode=9,
        overcast_subscribers=4,
        reasons=[Reason.MANY_NETWORKS, Reason.MANY_APPS],
    )
    engine = build_engine(database_url)
    with Session(engine) as session, session.begin():
        feed = session.query(FeedAccess).filter_by(token_id=token_id).one()
        alert = SharingAlert(
            token_id=token_id,
            subscriber_id=subscriber_id,
            show_id=feed.show_id,
            status=AlertStatus.OPEN,
            opened_at=now,
            evidence=evidence.model_dump(mode="json"),
        )
        session.add(alert)
        session.flush()
        alert_id = alert.id
    engine.dispose()
    return alert_id


# Over HTTP


def test_the_servers_root_leads_to_the_console(console: TestClient) -> None:
    response = console.get("/", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (302, "/console/")


def test_console_pages_need_a_login(console: TestClient) -> None:
    response = console.get("/console/subscribers?q=a%40example.com", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == (
        "/console/login?next=%2Fconsole%2Fsubscribers%3Fq%3Da%2540example.com"
    )


def test_logging_in_goes_back_only_to_a_console_page() -> None:
    assert safe_next("/console/alerts?status=open") == "/console/alerts?status=open"
    for elsewhere in ("//evil.example/console/", "https://evil.example/", "/admin/users", ""):
        assert safe_next(elsewhere) == "/console/"
    assert safe_next("/console/\\evil.example") == "/console/"


def test_login_sets_a_session_cookie_and_logout_ends_it(console: TestClient) -> None:
    make_staff(console, "support@example.com", "support")
    response = log_in(console, "Support@Example.com")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    page = console.get("/console/")
    assert page.status_code == 200
    assert "support@example.com" in page.text
    copied = console.cookies[COOKIE]
    logged_out = console.post("/console/logout", data={"csrf": csrf_of(page.text)})
    assert logged_out.url.path == "/console/login"
    assert "You are logged out" in logged_out.text
    assert console.get("/console/", follow_redirects=False).status_code == 303
    console.cookies.set(COOKIE, copied)  # a copy of the cookie ended with it
    assert console.get("/console/", follow_redirects=False).status_code == 303


def test_the_login_form_needs_its_token(console: TestClient) -> None:
    make_staff(console, "owner@example.com", "owner")
    response = console.post(
        "/console/login", data={"email": "owner@example.com", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert COOKIE not in console.cookies


def test_wrong_passwords_are_throttled(console: TestClient) -> None:
    make_staff(console, "editor@example.com", "editor")
    first = log_in(console, "editor@example.com", "wrong password!")
    assert first.status_code == 401
    assert "The email or password is wrong." in first.text
    for _ in range(4):
        log_in(console, "editor@example.com", "wrong password!")
    throttled = log_in(console, "editor@example.com")  # even the right password, for now
    assert throttled.status_code == 429
    assert "Too many failed logins: try again in" in throttled.text
    assert int(throttled.headers["retry-after"]) > 0
    assert COOKIE not in console.cookies


def test_an_expired_session_goes_to_the_login_page(console: TestClient, clock: Clock) -> None:
    as_role(console, "analyst")
    assert console.get("/console/").status_code == 200
    clock.advance(timedelta(hours=12, seconds=1))  # PODPASS_SESSION_HOURS defaults to 12
    response = console.get("/console/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=%2Fconsole%2F"


def test_a_form_posted_after_the_session_ended_says_so_and_goes_back_to_its_page(
    console: TestClient, clock: Clock
) -> None:
    """Issue 24: it landed on the login page with no word, and then on the dashboard."""
    subscriber = subscriber_with_feed(console, "listener@example.com")
    as_role(console, "support")
    page = f"/console/subscribers/{subscriber['id']}"
    csrf = csrf_of(console.get(page).text)
    clock.advance(timedelta(hours=12, seconds=1))
    posted = console.post(
        f"{page}/lapse",
        data={"csrf": csrf},
        headers={"Referer": f"http://testserver{page}"},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    login = posted.headers["location"]
    assert login == f"/console/login?next=%2Fconsole%2Fsubscribers%2F{subscriber['id']}&unsaved=1"
    assert "what you sent was not saved" in console.get(login).text
    assert (
        console.get(f"/admin/subscribers/{subscriber['id']}", headers=ADMIN).json()["status"]
        == "active"
    )
    # Another site's page is never where the login leads.
    elsewhere = console.post(
        f"{page}/lapse",
        data={"csrf": csrf},
        headers={"Referer": "https://evil.example/console/x"},
        follow_redirects=False,
    )
    assert elsewhere.headers["location"] == "/console/login?next=%2Fconsole%2F&unsaved=1"


def test_a_form_posted_without_its_csrf_token_is_refused(console: TestClient) -> None:
    subscriber = subscriber_with_feed(console, "listener@example.com")
    as_role(console, "support")
    detail = console.get(f"/console/subscribers/{subscriber['id']}")
    for sent in ({}, {"csrf": "not-the-token"}):
        refused = console.post(f"/console/subscribers/{subscriber['id']}/lapse", data=sent)
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/html")
        assert "did not carry its security token" in refused.text
    assert (
        console.get(f"/admin/subscribers/{subscriber['id']}", headers=ADMIN).json()["status"]
        == "active"
    )
    done = console.post(
        f"/console/subscribers/{subscriber['id']}/lapse", data={"csrf": csrf_of(detail.text)}
    )
    assert done.status_code == 200
    assert "Lapsed: their feeds now show a renewal notice" in done.text


def test_console_errors_are_pages(console: TestClient) -> None:
    missing = console.get("/console/no-such-page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "There is no console page at this address." in missing.text
    as_role(console, "analyst")
    refused = console.get("/console/subscribers")
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "<h1>Not allowed</h1>" in refused.text
    assert "Your role (analyst) cannot open this page" in refused.text
    bad_id = console.get("/console/subscribers/0")
    assert bad_id.status_code in (403, 422)
    for response in (missing, refused, bad_id):
        assert "Traceback" not in response.text
        assert not response.text.lstrip().startswith("{")
    # The API stays JSON.
    assert console.get("/admin/nothing", headers=ADMIN).headers["content-type"] == (
        "application/json"
    )


def test_a_console_body_over_its_limit_gets_a_page(console: TestClient) -> None:
    """Refused from its Content-Length by the middleware, before the app's error pages:
    still a page, not JSON."""
    as_role(console, "owner")
    csrf = csrf_of(console.get("/console/accounts").text)
    too_large = console.post(
        "/console/accounts", data={"csrf": csrf, "email": "x" * (2 * 1024 * 1024)}
    )
    assert too_large.status_code == 413
    assert too_large.headers["content-type"].startswith("text/html")
    assert "<h1>Too large</h1>" in too_large.text
    assert "Console forms are limited to 1 MB." in too_large.text
    assert too_large.headers["connection"] == "close"


def test_the_alerts_page_reads_their_subscribers_in_one_query(
    console: TestClient, settings: Settings
) -> None:
    subscribers = [subscriber_with_feed(console, f"s{n}@example.com") for n in range(3)]
    for subscriber in subscribers:
        open_alert(
            settings.database_url, feed_path(subscriber, "sharp-tech"), subscriber["id"], utcnow()
        )
    with (
        statements_of(console) as statements,
        transaction(console.app.state.db.reader) as session,  # type: ignore[attr-defined]
    ):
        views = service.alerts(session, [AlertStatus.OPEN])
    assert {view.subscriber.email for view in views} == {s["email"] for s in subscribers}
    assert sum("FROM subscribers" in statement for statement in statements) == 1


def test_support_gets_a_404_page_for_a_missing_subscriber(console: TestClient) -> None:
    as_role(console, "support")
    response = console.get("/console/subscribers/4242")
    assert response.status_code == 404
    assert "No subscriber with id 4242." in response.text
    assert console.get("/console/subscribers/x").status_code == 422


def test_support_finds_subscribers_by_email_customer_id_and_status(console: TestClient) -> None:
    first = subscriber_with_feed(console, "first@example.com", external_id="cus_123")
    subscriber_with_feed(console, "second@example.com")
    console.post(f"/admin/subscribers/{first['id']}/lapse", headers=ADMIN)
    as_role(console, "support")

    def found(query: str) -> list[str]:
        page = console.get(f"/console/subscribers?{query}")
        assert page.status_code == 200
        return re.findall(r'<td data-label="Email"><a [^>]+>([^<]+)<', page.text)

    assert found("q=First%40Example.com") == ["first@example.com"]
    assert found("q=cus_123") == ["first@example.com"]
    assert found("status=lapsed") == ["first@example.com"]
    assert found("status=active") == ["second@example.com"]
    assert found("q=&status=") == ["first@example.com", "second@example.com"]
    assert found("q=nobody%40example.com") == []
    assert console.get("/console/subscribers?status=asleep").status_code == 422


def test_lapse_reinstate_and_revoke_act_on_the_feed(console: TestClient) -> None:
    subscriber = subscriber_with_feed(console, "states@example.com")
    feed = feed_path(subscriber, "sharp-tech")
    as_role(console, "support")
    detail = f"/console/subscribers/{subscriber['id']}"
    csrf = csrf_of(console.get(detail).text)
    console.post(f"{detail}/lapse", data={"csrf": csrf})
    assert "Subscription inactive" in console.get(feed).text
    reinstated = console.post(f"{detail}/reinstate", data={"csrf": csrf})
    assert "Reinstated." in reinstated.text
    assert "Subscription inactive" not in console.get(feed).text
    console.post(f"{detail}/revoke", data={"csrf": csrf})
    assert console.get(feed).status_code == 410
    rotated = console.post(f"{detail}/shows/sharp-tech/rotate", data={"csrf": csrf})
    assert "New feed URL made" in rotated.text


def test_the_subscriber_page_link_can_be_copied_and_sent(console: TestClient) -> None:
    subscriber = subscriber_with_feed(console, "linked@example.com")
    as_role(console, "support")
    page = console.get(f"/console/subscribers/{subscriber['id']}").text
    link = re.search(r'id="page-link-url" type="text" readonly value="([^"]+)"', page)
    assert link
    assert link[1].startswith("http://testserver/my/")
    assert console.get(link[1].removeprefix("http://testserver")).status_code == 200
    # Issue 24: "Send by email" was a mailto: link; the server sends it, from the outbox.
    assert "mailto:" not in page
    sent = console.post(
        f"/console/subscribers/{subscriber['id']}/send-links", data={"csrf": csrf_of(page)}
    )
    assert "Their page link is on its way to linked@example.com" in sent.text
    newest = console.get("/admin/outbox", headers=ADMIN).json()[0]
    assert (newest["payload"]["template"], newest["payload"]["to"]) == (
        "links",
        "linked@example.com",
    )


def test_a_revoked_subscribers_page_offers_no_new_url_nor_email(console: TestClient) -> None:
    """Issue 24: both looked live on a revoked subscriber's page, and failed."""
    subscriber = subscriber_with_feed(console, "gone@example.com")
    console.post(f"/admin/subscribers/{subscriber['id']}/revoke", headers=ADMIN)
    as_role(console, "support")
    page = console.get(f"/console/subscribers/{subscriber['id']}").text
    assert "New URL for" not in page
    assert "Email it to" not in page
    assert "They are revoked" in page
    refused = console.post(
        f"/console/subscribers/{subscriber['id']}/send-links", data={"csrf": csrf_of(page)}
    )
    assert refused.status_code == 409


def test_waiting_emails_show_on_every_page_and_dead_ones_are_sent_again(
    console: TestClient, settings: Settings, clock: Clock
) -> None:
    """Issue 24: 37 emails sat unsent with no SMTP server, and nothing said so."""
    assert not settings.smtp_host
    subscriber_with_feed(console, "waiting@example.com")  # its welcome email waits
    as_role(console, "support")
    dashboard = console.get("/console/").text
    assert "1 email is waiting, and none go out: PODPASS_SMTP_HOST is not set." in dashboard
    as_role(console, "editor")  # who cannot see the outbox is not told (the trial's #13)
    assert "none go out" not in console.get("/console/").text
    assert log_in(console, "support@example.com").status_code == 303
    listed = console.get("/console/outbox").text
    assert "email: welcome" in listed
    assert "waiting@example.com" in listed

    with transaction(console.app.state.db.writer) as session:  # type: ignore[attr-defined]
        session.execute(update(OutboxMessage).values(status="dead", last_error="refused"))
    assert "none go out" not in console.get("/console/").text  # given up on: not waiting
    dead = console.get("/console/outbox?status=dead").text
    message_id = re.search(r'action="/console/outbox/(\d+)/retry"', dead)
    assert message_id
    again = console.post(f"/console/outbox/{message_id[1]}/retry", data={"csrf": csrf_of(dead)})
    assert f"Message {message_id[1]} goes out again" in again.text
    assert "1 email is waiting" in again.text


def test_emails_given_up_on_this_week_show_to_whoever_can_send_them_again(
    console: TestClient, clock: Clock
) -> None:
    """The week's trial: with an SMTP server set that refused them, dead emails piled up
    and only the Outbox page said so."""
    subscriber_with_feed(console, "bounced@example.com")
    subscriber_with_feed(console, "long-ago@example.com")
    with transaction(console.app.state.db.writer) as session:  # type: ignore[attr-defined]
        for email, died in (("bounced", clock()), ("long-ago", clock() - timedelta(days=8))):
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.payload["to"].as_string() == f"{email}@example.com")
                .values(status="dead", last_error="550 refused", next_attempt_at=died)
            )
    as_role(console, "support")
    page = console.get("/console/subscribers").text
    assert "1 email could not be sent this past week and was given up on." in page
    assert 'href="/console/outbox?status=dead">See why, and send it again' in page
    as_role(console, "editor")  # who cannot see the outbox is not told
    assert "could not be sent" not in console.get("/console/").text


def test_support_acknowledges_or_rotates_an_alert(console: TestClient, settings: Settings) -> None:
    keeper = subscriber_with_feed(console, "keeper@example.com")
    sharer = subscriber_with_feed(console, "sharer@example.com")
    kept_feed, shared_feed = feed_path(keeper, "sharp-tech"), feed_path(sharer, "sharp-tech")
    now = utcnow()
    kept = open_alert(settings.database_url, kept_feed, keeper["id"], now)
    rotated = open_alert(settings.database_url, shared_feed, sharer["id"], now)
    as_role(console, "support")
    alerts = console.get("/console/alerts")
    assert f'data-alert="{kept}"' in alerts.text
    assert "<strong>9</strong> networks" in alerts.text
    csrf = csrf_of(alerts.text)
    done = console.post(f"/console/alerts/{kept}/acknowledge", data={"csrf": csrf})
    assert "Acknowledged: the URL is kept." in done.text
    assert f'data-alert="{kept}"' not in done.text  # the open list
    assert f'data-alert="{kept}"' in console.get("/console/alerts?status=acknowledged").text
    assert console.get(kept_feed).status_code == 200
    done = console.post(f"/console/alerts/{rotated}/rotate", data={"csrf": csrf})
    # Issue 24: the message named "Subscriber 11"; support answers people by their address.
    assert (
        "Rotated: the shared URL no longer works. sharer@example.com is emailed their page link"
        in done.text
    )
    assert console.get(shared_feed).status_code == 404
    assert console.get(kept_feed).status_code == 200


def asks_first(page_html: str, button: str) -> bool:
    """The button that acts sits inside a <details>, shown only once its summary is opened."""
    for details in re.findall(r"<details>(.*?)</details>", page_html, re.S):
        if re.search(
            rf'<button type="submit" class="danger">{re.escape(button)}</button>', details
        ):
            return "<summary>" in details
    return False


def test_revoking_a_key_and_rotating_a_feed_url_ask_first(
    console: TestClient, settings: Settings
) -> None:
    """The trial: a key's Revoke, a subscriber's New URL and an alert's Rotate the URL each
    acted on one click, and each breaks someone's app or script at once."""
    sharer = subscriber_with_feed(console, "sharer@example.com")
    alert = open_alert(
        settings.database_url, feed_path(sharer, "sharp-tech"), sharer["id"], utcnow()
    )
    as_role(console, "owner")
    keys = console.get("/console/keys")
    console.post("/console/keys", data={"csrf": csrf_of(keys.text), "name": "upload script"})
    assert asks_first(console.get("/console/keys").text, "Revoke upload script")
    subscriber = console.get(f"/console/subscribers/{sharer['id']}").text
    assert asks_first(subscriber, "New URL for Sharp Tech")
    assert asks_first(console.get("/console/alerts").text, "Rotate the URL")
    rotated = console.post(f"/console/alerts/{alert}/rotate", data={"csrf": csrf_of(subscriber)})
    assert "Rotated: the shared URL no longer works." in rotated.text
    assert console.get(feed_path(sharer, "sharp-tech")).status_code == 404


def test_a_blank_key_name_is_refused_on_the_form(console: TestClient) -> None:
    """The trial: a name of spaces passed the browser's `required` and made a key with no
    name (its Revoke button named nothing); the admin API refuses the same name."""
    as_role(console, "owner")
    csrf = csrf_of(console.get("/console/keys").text)
    for blank in ({"name": "   "}, {}):
        refused = console.post("/console/keys", data={"csrf": csrf} | blank)
        assert refused.status_code == 422
        assert "name: must not be empty" in refused.text
        assert 'id="key-name"' in refused.text  # the form, not an error page
    assert console.get("/admin/me/api-keys").json() == []
    too_long = console.post("/console/keys", data={"csrf": csrf, "name": "k" * 101})
    assert "name: must be 100 characters or fewer" in too_long.text
    assert f'value="{"k" * 101}"' in too_long.text


def test_the_owner_manages_accounts(console: TestClient) -> None:
    as_role(console, "owner")
    page = console.get("/console/accounts")
    csrf = csrf_of(page.text)
    made = console.post(
        "/console/accounts",
        data={"csrf": csrf, "email": "new@example.com", "role": "analyst", "password": PASSWORD},
    )
    assert "new@example.com can now log in as analyst." in made.text
    weak = console.post(
        "/console/accounts",
        data={"csrf": csrf, "email": "weak@example.com", "role": "editor", "password": "short"},
    )
    assert weak.status_code == 422
    assert "at least 12 characters" in weak.text
    # Issue 24: these went to an error page that lost the form; they stay on it, as typed.
    assert "Create the account" in weak.text
    assert 'value="weak@example.com"' in weak.text
    assert '<option value="editor" selected>' in weak.text
    taken = console.post(
        "/console/accounts",
        data={"csrf": csrf, "email": "NEW@example.com", "role": "owner", "password": PASSWORD},
    )
    assert taken.status_code == 409
    assert "A staff account for new@example.com already exists." in taken.text
    assert '<option value="owner" selected>' in taken.text
    not_an_email = console.post(
        "/console/accounts",
        data={"csrf": csrf, "email": "not an email", "role": "editor", "password": PASSWORD},
    )
    assert not_an_email.status_code == 422  # it was accepted as a staff email
    assert "&#39;not an email&#39; is not an email address" in not_an_email.text
    users = {u["email"]: u["id"] for u in console.get("/admin/users", headers=ADMIN).json()}
    new_id = users["new@example.com"]
    changed = console.post(
        f"/console/accounts/{new_id}/role", data={"csrf": csrf, "role": "support"}
    )
    assert "new@example.com is now support." in changed.text
    last_owner = console.post(
        f"/console/accounts/{users['owner@example.com']}/role",
        data={"csrf": csrf, "role": "editor"},
    )
    assert last_owner.status_code == 409
    assert "last active owner" in last_owner.text

    with TestClient(console.app) as other:
        assert log_in(other, "new@example.com").status_code == 303
        assert other.get("/console/subscribers").status_code == 200  # support now
        disabled = console.post(f"/console/accounts/{new_id}/disable", data={"csrf": csrf})
        assert "new@example.com is disabled" in disabled.text
        assert other.get("/console/", follow_redirects=False).status_code == 303


def test_accounts_are_for_owners_only(console: TestClient) -> None:
    as_role(console, "support")
    assert console.get("/console/accounts").status_code == 403
    csrf = csrf_of(console.get("/console/").text)
    refused = console.post(
        "/console/accounts",
        data={"csrf": csrf, "email": "x@example.com", "role": "owner", "password": PASSWORD},
    )
    assert refused.status_code == 403
    assert "Accounts" not in re.sub(r"<main.*", "", console.get("/console/").text, flags=re.S)


def test_each_user_makes_and_revokes_their_api_keys(console: TestClient) -> None:
    as_role(console, "editor")
    csrf = csrf_of(console.get("/console/keys").text)
    made = console.post(
        "/console/keys", data={"csrf": csrf, "name": "upload script"}, follow_redirects=False
    )
    assert made.status_code == 303  # so that a reload does not post the form again
    shown = console.get(made.headers["location"])
    key = re.search(r'id="new-key" type="text" readonly value="(pp_[^"]+)"', shown.text)
    assert key
    reloaded = console.get("/console/keys").text  # issue 24: a reload made a second key
    assert key[1] not in reloaded
    assert len(re.findall(r'action="/console/keys/\d+/revoke"', reloaded)) == 1
    me = console.get("/admin/me", headers={"Authorization": f"Bearer {key[1]}"})
    assert me.status_code == 200
    assert me.json()["email"] == "editor@example.com"
    listed = console.get("/console/keys").text
    assert key[1] not in listed  # shown once
    key_id = re.search(r'action="/console/keys/(\d+)/revoke"', listed)
    assert key_id
    revoked = console.post(f"/console/keys/{key_id[1]}/revoke", data={"csrf": csrf})
    assert "is revoked." in revoked.text
    assert (
        console.get("/admin/me", headers={"Authorization": f"Bearer {key[1]}"}).status_code == 401
    )


# In a browser


def staff_in_browser(browser: Browser, base: str, email: str, *, width: int = 390) -> Page:
    page = open_page(browser, f"{base}/console/", width=width)
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in to the console")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    return page


def day_counts(svg: ElementTree.Element) -> dict[str, dict[str, int]]:
    """What the chart's SVG says: each series' (legend name) value per day."""
    names = [
        text.text or ""
        for legend in svg.iter(f"{SVG}g")
        if "legend" in (legend.get("class") or "").split()
        for text in legend.iter(f"{SVG}text")
    ]
    series: dict[str, dict[str, int]] = {}
    overlay = next(g for g in svg.iter(f"{SVG}g") if g.get("class") == "plot overlay")
    for group in overlay:
        index = int(re.search(r"serie-(\d+)", group.get("class") or "")[1])  # type: ignore[index]
        points = series.setdefault(names[index], {})
        for dots in group:
            desc = {d.get("class"): d.text for d in dots.iter(f"{SVG}desc")}
            points[desc["x_label"] or ""] = int(desc["value"] or 0)
    return series


def insert_downloads(
    database_url: str, episode_id: int, show_id: int, per_day: dict[date, list[int]]
) -> None:
    """Downloads (the rollup's rows) on each day, one per subscriber id listed."""
    engine = build_engine(database_url)
    with Session(engine) as session, session.begin():
        for day, subscriber_ids in per_day.items():
            for n, subscriber_id in enumerate(subscriber_ids):
                session.add(
                    Download(
                        day=day,
                        show_id=show_id,
                        episode_id=episode_id,
                        ip_hash=secrets.token_hex(8),
                        user_agent="Overcast/3.0 (+http://overcast.fm/; iOS podcast app)",
                        first_at=datetime.combine(day, time(12, n), UTC),
                        token_id=None,
                        subscriber_id=subscriber_id,
                        ip_prefix=f"198.51.{n}.0/24",
                        app="Overcast",
                        device="iPhone",
                        device_category="mobile",
                    )
                )
    engine.dispose()


@pytest.fixture
def shows_with_an_episode(live: tuple[str, httpx.Client]) -> dict[str, int]:
    """Sharp Tech with one published episode, and Greatest of All Talk: their ids."""
    _base, admin = live
    sharp = admin.post("/admin/shows", json=SHOW).json()
    goat = admin.post("/admin/shows", json=show_json("goat", "Greatest of All Talk")).json()
    episode = upload(admin, "sharp-tech", title="Episode 1: Hello", publish=True).json()
    goat_episode = upload(admin, "goat", title="The GOAT debate", publish=True).json()
    return {
        "sharp": sharp["id"],
        "goat": goat["id"],
        "episode": episode["id"],
        "goat_episode": goat_episode["id"],
    }


def test_an_analyst_sees_the_dashboard_and_is_refused_the_rest(
    browser: Browser,
    live: tuple[str, httpx.Client],
    settings: Settings,
    shows_with_an_episode: dict[str, int],
) -> None:
    base, admin = live
    ids = shows_with_an_episode
    today = utcnow().date()
    this_monday = today - timedelta(days=today.weekday())
    last_week = this_monday - timedelta(days=3)
    insert_downloads(
        settings.database_url,
        ids["episode"],
        ids["sharp"],
        {today: [1, 2, 3], today - timedelta(days=40): [1], last_week: [1, 4]},
    )
    insert_downloads(
        settings.database_url, ids["goat_episode"], ids["goat"], {today - timedelta(days=89): [5]}
    )
    make_staff(admin, "analyst@example.com", "analyst")

    page = staff_in_browser(browser, base, "analyst@example.com")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    svg = ElementTree.fromstring(page.locator("#downloads-chart svg").evaluate("e => e.outerHTML"))
    counts = day_counts(svg)
    assert set(counts) == {"Sharp Tech", "Greatest of All Talk"}
    assert len(counts["Sharp Tech"]) == 90
    assert counts["Sharp Tech"][today.isoformat()] == 3
    assert counts["Sharp Tech"][(today - timedelta(days=40)).isoformat()] == 1
    assert counts["Sharp Tech"][last_week.isoformat()] == 2
    assert counts["Greatest of All Talk"][(today - timedelta(days=89)).isoformat()] == 1
    assert sum(counts["Greatest of All Talk"].values()) == 1
    # Subscribers 1, 2, 3 this week (1 twice), 1 and 4 last week.
    expect(page.locator("#this-week")).to_have_text("3")
    expect(page.locator("#last-week")).to_have_text("2")
    expect(page.get_by_role("region", name="Top episodes").get_by_role("listitem")).to_have_text(
        ["Episode 1: Hello (Sharp Tech): 6", "The GOAT debate (Greatest of All Talk): 1"]
    )
    expect(page.get_by_role("region", name="Top apps")).to_contain_text("Overcast: 7")
    nav = page.get_by_role("navigation", name="Console")
    expect(nav.get_by_role("link")).to_have_text(["Dashboard", "Shows", "API keys"])
    assert_fits_the_width(page)
    if os.environ.get("PODPASS_SCREENSHOT"):
        page.set_viewport_size({"width": 1100, "height": 900})
        page.screenshot(path=str(DOCS / "console-dashboard.png"), full_page=True)

    refused = page.goto(f"{base}/console/subscribers")
    assert refused is not None
    assert refused.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    # The write API, with the page's own session and CSRF token: a 403 in JSON.
    answer = page.evaluate(
        """async () => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const response = await fetch('/admin/subscribers', {
                method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                body: JSON.stringify({email: 'sneaky@example.com', shows: []}),
            });
            return [response.status, response.headers.get('content-type'), await response.json()];
        }"""
    )
    assert answer[0] == 403
    assert answer[1] == "application/json"
    assert answer[2]["error"] == "forbidden"
    assert admin.get("/admin/subscribers", params={"email": "sneaky@example.com"}).json() == []


def test_support_rotates_a_shared_url_from_an_alert(
    browser: Browser, live: tuple[str, httpx.Client], settings: Settings
) -> None:
    base, admin = live
    admin.post("/admin/shows", json=SHOW)
    subscriber = admin.post(
        "/admin/subscribers", json={"email": "sharer@example.com", "shows": ["sharp-tech"]}
    ).json()
    old_url = subscriber["feeds"][0]["feed_url"]
    open_alert(settings.database_url, old_url, subscriber["id"], utcnow())
    make_staff(admin, "support@example.com", "support")

    page = staff_in_browser(browser, base, "support@example.com")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Subscribers").click()
    page.get_by_label("Email, name or customer id").fill("sharer@example.com")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="sharer@example.com").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("sharer@example.com")
    expect(page.get_by_label("Feed URL for Sharp Tech")).to_have_value(old_url)
    assert_fits_the_width(page)

    alert = page.locator("article.alert")
    expect(alert).to_contain_text("9 networks")
    page.goto(f"{base}/console/alerts")
    expect(alert).to_contain_text("sharer@example.com")
    assert_fits_the_width(page)
    page.go_back()
    assert httpx.get(old_url).status_code == 200
    alert.get_by_text("Rotate the URL…").click()
    alert.get_by_role("button", name="Rotate the URL").click()
    expect(page.get_by_role("status")).to_contain_text("Rotated: the shared URL no longer works.")
    assert httpx.get(old_url).status_code == 404

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Subscribers").click()
    page.get_by_role("link", name="sharer@example.com").click()
    new_url = page.get_by_label("Feed URL for Sharp Tech").input_value()
    assert new_url != old_url
    assert httpx.get(new_url).status_code == 200
    page.get_by_role("button", name="Copy").first.click()
    assert page.evaluate("navigator.clipboard.readText()").startswith(f"{base}/my/")


def test_an_old_session_cookie_goes_to_the_login_page(
    browser: Browser, live: tuple[str, httpx.Client]
) -> None:
    base, admin = live
    user_id = make_staff(admin, "editor@example.com", "editor")
    sessions = Sessions(SECRET_KEY, lifetime=timedelta(hours=12), secure=False)
    forged_old = sessions.issue(user_id, utcnow() - timedelta(hours=13))
    page = open_page(browser, f"{base}/console/login")
    page.context.add_cookies([{"name": COOKIE, "value": forged_old, "url": base}])
    page.goto(f"{base}/console/keys")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in to the console")
    assert page.url == f"{base}/console/login?next=%2Fconsole%2Fkeys"
    fresh = sessions.issue(user_id, utcnow())
    page.context.add_cookies([{"name": COOKIE, "value": fresh, "url": base}])
    page.goto(f"{base}/console/keys")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your API keys")


def test_an_owner_adds_an_editor_and_a_key_on_a_phone(
    browser: Browser, live: tuple[str, httpx.Client]
) -> None:
    base, admin = live
    make_staff(admin, "owner@example.com", "owner")
    page = staff_in_browser(browser, base, "owner@example.com")
    nav = page.get_by_role("navigation", name="Console")
    expect(nav.get_by_role("link")).to_have_text(
        [
            "Dashboard",
            "Shows",
            "Subscribers",
            "Alerts",
            "Plans",
            "Billing",
            "Outbox",
            "Accounts",
            "Webhooks",
            "Audit log",
            "API keys",
        ]
    )
    nav.get_by_role("link", name="Accounts").click()
    page.get_by_label("Email").fill("editor@example.com")
    page.get_by_label("Role", exact=True).select_option("editor")
    page.get_by_label("Initial password (12 characters or more)").fill(PASSWORD)
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_role("status")).to_have_text(
        "editor@example.com can now log in as editor. Give them their password in person or "
        "by a separate channel."
    )
    expect(page.get_by_label("Role of editor@example.com")).to_have_value("editor")
    assert_fits_the_width(page)
    # Issue 24: Disable acted on one click; it asks first.
    editor_row = page.get_by_role("row").filter(has_text="editor@example.com")
    disable = editor_row.get_by_role("button", name="Disable editor@example.com")
    expect(disable).to_be_hidden()
    editor_row.get_by_text("Manage…").click()
    expect(disable).to_be_hidden()
    editor_row.get_by_text("Disable…").click()
    expect(disable).to_be_visible()

    nav.get_by_role("link", name="API keys").click()
    page.get_by_label("What it is for").fill("upload script")
    page.get_by_role("button", name="Create a key").click()
    key = page.get_by_label("API key").input_value()
    assert admin.get("/admin/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert_fits_the_width(page)
    page.get_by_role("row").filter(has_text="upload script").get_by_text("Revoke…").click()
    page.get_by_role("button", name="Revoke upload script").click()
    expect(page.get_by_role("status")).to_have_text("The key 'upload script' is revoked.")
    assert admin.get("/admin/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401

    page.keyboard.press("Tab")  # the skip link first, for keyboard users
    expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()


def test_staff_change_their_own_password(console: TestClient) -> None:
    """Issue 24: there was no way to change a password at all."""
    as_role(console, "editor")
    page = console.get("/console/password")
    assert page.status_code == 200
    csrf = csrf_of(page.text)
    other_device = console.cookies[COOKIE]
    form = {"csrf": csrf, "current": PASSWORD, "new": NEW, "again": NEW}
    wrong = console.post("/console/password", data=form | {"current": "not it at all"})
    assert wrong.status_code == 422
    assert "current password: it is not your password" in wrong.text
    differ = console.post("/console/password", data=form | {"again": NEW + "!"})
    assert differ.status_code == 422
    assert "the two differ" in differ.text
    changed = console.post("/console/password", data=form)
    assert "Your password is changed." in changed.text  # still signed in, on a new session
    assert console.get("/console/keys").status_code == 200
    assert log_in(console, "editor@example.com").status_code == 401
    assert log_in(console, "editor@example.com", NEW).status_code == 303
    console.cookies.clear()
    console.cookies.set(COOKIE, other_device)  # the session from before the change ended
    assert console.get("/console/keys", follow_redirects=False).status_code == 303


def test_an_owner_unlocks_a_locked_out_account_and_resets_its_password(
    console: TestClient,
) -> None:
    make_staff(console, "pat@example.com", "editor")
    for _ in range(5):
        assert log_in(console, "pat@example.com", "not the password").status_code == 401
    assert log_in(console, "pat@example.com").status_code == 429
    as_role(console, "owner")
    accounts_page = console.get("/console/accounts")
    assert "Unlock pat@example.com" in accounts_page.text
    csrf = csrf_of(accounts_page.text)
    pat = {u["email"]: u["id"] for u in console.get("/admin/users", headers=ADMIN).json()}
    unlocked = console.post(
        f"/console/accounts/{pat['pat@example.com']}/unlock", data={"csrf": csrf}
    )
    assert "pat@example.com may try to log in again now." in unlocked.text
    assert "Unlock pat@example.com" not in unlocked.text
    short = console.post(
        f"/console/accounts/{pat['pat@example.com']}/password",
        data={"csrf": csrf, "password": "short"},
    )
    assert short.status_code == 422
    assert "New password for pat@example.com: it needs at least 12 characters." in short.text
    row = re.search(r'<tr data-user="pat@example.com">.*?</tr>', short.text, re.S)
    assert row is not None
    assert '<details open>\n            <summary aria-label="Manage pat@example.com">' in row[0]
    assert "<details open>\n              <summary>Reset the password…" in row[0]
    assert "<details open>" not in short.text.replace(row[0], "")  # the other rows: folded
    reset = console.post(
        f"/console/accounts/{pat['pat@example.com']}/password",
        data={"csrf": csrf, "password": NEW},
    )
    assert "New password set for pat@example.com" in reset.text
    console.cookies.clear()
    assert log_in(console, "pat@example.com", NEW).status_code == 303
