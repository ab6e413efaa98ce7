"""A staff member who forgot their password: the login page's link, the email through the
outbox to a real SMTP server (aiosmtpd), the link's page, and a login with the new password.
The link works once, and not after an hour."""

import re
from datetime import timedelta
from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from app.core.config import Settings
from tests.browser import assert_fits_the_width, open_page
from tests.conftest import Clock
from tests.servers import SmtpServer
from tests.test_console import ADMIN, PASSWORD, log_in, make_staff
from tests.test_mail import LINK, parts, send_all
from tests.test_mail import settings as settings

NEW_PASSWORD = "a much longer new passphrase"
SUBJECT = "Set a new password for the console"


def ask_for_a_link(client: TestClient, email: str) -> httpx.Response:
    form = client.get("/console/forgot-password")
    assert form.status_code == 200
    token = re.search(r'name="form_token" value="([^"]+)"', form.text)
    assert token is not None
    return client.post(
        "/console/forgot-password",
        data={"email": email, "form_token": token[1]},
        follow_redirects=False,
    )


def reset_link(smtp: SmtpServer) -> str:
    (message,) = [m for m in smtp.messages() if m["Subject"] == SUBJECT]
    plain, html = parts(message)
    (link,) = LINK.findall(plain)
    assert f'href="{link}"' in html
    return str(link).removeprefix("http://testserver")


def set_password(
    client: TestClient, path: str, new: str, again: str | None = None
) -> httpx.Response:
    return client.post(path, data={"new": new, "again": again or new}, follow_redirects=False)


def test_a_forgotten_password_is_reset_by_email(
    client: TestClient, settings: Settings, clock: Clock, smtp: SmtpServer
) -> None:
    make_staff(client, "editor@example.com", "editor")
    assert log_in(client, "editor@example.com").status_code == 303  # a session to end
    old_session = dict(client.cookies)
    client.cookies.clear()
    login = client.get("/console/login").text
    assert '<a href="/console/forgot-password">Forgot your password?</a>' in login

    asked = ask_for_a_link(client, " Editor@Example.com ")
    assert asked.status_code == 303
    assert asked.headers["location"] == "/console/login"
    said = client.get("/console/login").text
    assert "If that address has a staff account, an email with a link" in said
    (queued,) = resets_queued(client)
    assert queued["payload"]["to"] == "editor@example.com"
    assert "password-reset" not in str(queued["payload"])  # the link is signed as it goes out

    send_all(client, settings, clock)
    path = reset_link(smtp)
    assert path.startswith("/console/password-reset/")
    page = client.get(path)
    assert page.status_code == 200
    assert "editor@example.com" in page.text
    short = set_password(client, path, "short")
    assert short.status_code == 422
    assert "at least 12 characters" in short.text
    differ = set_password(client, path, NEW_PASSWORD, NEW_PASSWORD + "!")
    assert differ.status_code == 422
    assert "the two differ" in differ.text

    done = set_password(client, path, NEW_PASSWORD)
    assert done.status_code == 303
    assert done.headers["location"] == "/console/login"
    audit = client.get("/admin/audit", params={"action": "account.password"}, headers=ADMIN)
    (reset,) = audit.json()  # logged as done by the account itself
    assert (reset["actor"], reset["via"], reset["target_label"]) == (
        "editor@example.com",
        "console",
        "editor@example.com",
    )
    assert log_in(client, "editor@example.com", PASSWORD).status_code == 401
    assert log_in(client, "editor@example.com", NEW_PASSWORD).status_code == 303
    # The session from before the reset has ended.
    client.cookies.clear()
    client.cookies.update(old_session)
    assert client.get("/console/", follow_redirects=False).status_code == 303

    # Once only.
    again = client.get(path)
    assert again.status_code == 403
    assert "This link was used already" in again.text
    assert set_password(client, path, "yet another passphrase").status_code == 403


def resets_queued(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/admin/outbox", headers=ADMIN)
    assert response.status_code == 200, response.text
    return [m for m in response.json() if m["payload"]["template"] == "password_reset"]


def test_an_unknown_address_is_answered_alike_and_gets_nothing(
    client: TestClient, settings: Settings, clock: Clock, smtp: SmtpServer
) -> None:
    make_staff(client, "editor@example.com", "editor")
    known = ask_for_a_link(client, "editor@example.com")
    unknown = ask_for_a_link(client, "nobody@example.com")
    assert (known.status_code, known.headers["location"]) == (
        unknown.status_code,
        unknown.headers["location"],
    )
    assert known.cookies.get("podpass_flash") == unknown.cookies.get("podpass_flash")
    assert [m["payload"]["to"] for m in resets_queued(client)] == ["editor@example.com"]


def test_the_link_expires_after_an_hour(
    client: TestClient, settings: Settings, clock: Clock, smtp: SmtpServer
) -> None:
    make_staff(client, "editor@example.com", "editor")
    ask_for_a_link(client, "editor@example.com")
    send_all(client, settings, clock)
    path = reset_link(smtp)
    clock.advance(timedelta(minutes=59))
    assert client.get(path).status_code == 200
    clock.advance(timedelta(minutes=2))
    late = set_password(client, path, NEW_PASSWORD)
    assert late.status_code == 403
    assert "more than 60 minutes old" in late.text
    assert log_in(client, "editor@example.com", NEW_PASSWORD).status_code == 401
    assert log_in(client, "editor@example.com", PASSWORD).status_code == 303


def test_requests_are_limited_per_address(client: TestClient, settings: Settings) -> None:
    make_staff(client, "editor@example.com", "editor")
    for _ in range(settings.links_per_address_per_hour):
        assert ask_for_a_link(client, "editor@example.com").status_code == 303
    refused = ask_for_a_link(client, "editor@example.com")
    assert refused.status_code == 429
    assert "several times this hour" in refused.text
    assert 'value="editor@example.com"' in refused.text  # kept in the form
    assert len(resets_queued(client)) == settings.links_per_address_per_hour


def test_forgot_password_in_the_browser_on_a_phone_and_a_desktop(
    browser: Browser,
    live: tuple[str, httpx.Client],
    client: TestClient,
    settings: Settings,
    clock: Clock,
    smtp: SmtpServer,
) -> None:
    """The live server queues the email; this test's sender (SMTP on) sends it."""
    base, admin = live
    admin.post(
        "/admin/users",
        json={"email": "editor@example.com", "role": "editor", "password": PASSWORD},
    )
    page = open_page(browser, f"{base}/console/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Your staff account's email").fill("editor@example.com")
    assert_fits_the_width(page)
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("status")).to_contain_text("If that address has a staff account")
    send_all(client, settings, clock)

    desk = open_page(browser, base + reset_link(smtp), width=1280)
    expect(desk.get_by_role("heading", level=1)).to_have_text("Set a new password")
    desk.get_by_label("New password (12 characters or more)").fill(NEW_PASSWORD)
    desk.get_by_label("The new password again").fill(NEW_PASSWORD)
    assert_fits_the_width(desk)
    desk.get_by_role("button", name="Set my password").click()
    expect(desk.get_by_role("status")).to_contain_text("Your new password is set")
    desk.get_by_label("Email").fill("editor@example.com")
    desk.get_by_label("Password").fill(NEW_PASSWORD)
    desk.get_by_role("button", name="Log in").click()
    expect(desk.get_by_role("heading", level=1)).not_to_have_text("Log in to the console")
    assert desk.url == f"{base}/console/"
