"""The Outbox page in a browser: an email that could not be sent is found and sent again."""

import os

import httpx2 as httpx
from playwright.sync_api import Browser, expect
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db.engine import build_engine
from app.models import OutboxMessage, OutboxStatus
from tests.browser import assert_fits_the_width
from tests.conftest import SHOW
from tests.test_console import DOCS, make_staff, staff_in_browser


def test_support_finds_a_dead_email_and_sends_it_again(
    browser: Browser, live: tuple[str, httpx.Client], settings: Settings
) -> None:
    base, admin = live
    admin.post("/admin/shows", json=SHOW).raise_for_status()
    admin.post(
        "/admin/subscribers", json={"email": "lost@example.com", "shows": ["sharp-tech"]}
    ).raise_for_status()  # its welcome email waits in the outbox
    welcome = admin.get("/admin/outbox", params={"status": "pending"}).json()
    assert [m["payload"]["to"] for m in welcome] == ["lost@example.com"]
    engine = build_engine(settings.database_url)  # the tries ran out, as the sender gives up
    with Session(engine) as session, session.begin():
        session.execute(
            update(OutboxMessage).values(
                status=OutboxStatus.DEAD,
                attempts=8,
                last_error="SMTP 550: mailbox unavailable (the server refused it)",
            )
        )
    engine.dispose()
    make_staff(admin, "support@example.com", "support")

    page = staff_in_browser(browser, base, "support@example.com")  # a phone's width
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Outbox").click()
    page.get_by_role("link", name="Dead").click()
    row = page.locator("tr", has_text="lost@example.com")
    expect(row).to_contain_text("SMTP 550: mailbox unavailable")
    expect(row).to_contain_text("email: welcome")
    assert_fits_the_width(page)
    if os.environ.get("PODPASS_SCREENSHOT"):
        page.set_viewport_size({"width": 1100, "height": 700})
        page.screenshot(path=str(DOCS / "console-outbox.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})

    row.get_by_role("button", name="again").click()
    expect(page.get_by_role("status")).to_contain_text("goes out again, with a fresh set of tries")
    # Outside the console: the same message waits again, with its tries reset.
    again = admin.get("/admin/outbox", params={"status": "pending"}).json()
    assert [(m["payload"]["to"], m["attempts"]) for m in again] == [("lost@example.com", 0)]
    assert admin.get("/admin/outbox", params={"status": "dead"}).json() == []
