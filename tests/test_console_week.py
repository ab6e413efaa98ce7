"""Issue 24's acceptance test: a publisher's team runs a whole week from the browser.

The owner, the editor, support and the analyst each work in Chromium only. The app they use
runs under uvicorn in a thread of this process, with the injected clock, so the week passes
without waiting: the clock moves on to each day. Everything the team does not do (the
first owner, made as the command line makes it; listeners' apps fetching feeds and audio
from their own networks; the server's jobs; the outbox's worker) happens as it happens in
production, and each step is checked outside the console: the feed parsed by podcastparser,
the email received by aiosmtpd, the admin API."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from app.core.config import Settings, SmtpSecurity
from app.main import create_app
from tests.conftest import ADMIN_KEY, MP3, Clock
from tests.parsers import gpodder
from tests.servers import SmtpServer, free_port, uvicorn_thread
from tests.test_console import PASSWORD, make_staff, staff_in_browser
from tests.test_console_analytics import APPLE, OVERCAST, Listening, at
from tests.test_mail import LINK, parts
from tests.test_outbox import new_sender

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
HOME = "198.51.100.23"  # Ann's home network
# Monday 08:00 UTC, a week or less ahead: the clock only moves on, so the browser never
# holds a cookie the server has not yet made.
_today = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
MONDAY = _today + timedelta(days=7 - _today.weekday())
TUESDAY, WEDNESDAY, NEXT_MONDAY = (MONDAY + timedelta(days=n) for n in (1, 2, 7))


@dataclass(frozen=True)
class Server:
    """The running app: its address in the browser, and the same app to call directly."""

    base: str
    app: TestClient
    settings: Settings


@pytest.fixture
def server(settings: Settings, smtp: SmtpServer, clock: Clock) -> Iterator[Server]:
    """The app as a publisher runs it: SMTP set, emails sent by a worker (here the test, at
    the times it chooses), and the jobs run when the test says it is ten minutes later."""
    port = free_port()
    configured = settings.model_copy(
        update={
            "base_url": f"http://127.0.0.1:{port}",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_security": SmtpSecurity.NONE,
            "smtp_timeout_seconds": 5,
            "outbox_in_app": False,
            "outbox_max_tries": 3,
            "background_jobs": False,
        }
    )
    at(clock, MONDAY)
    with (
        TestClient(create_app(configured, clock)) as app,
        uvicorn_thread(app.app, port=port) as base,
    ):
        yield Server(base, app, configured)


def log_in(browser: Browser, server: Server, email: str) -> Page:
    page = staff_in_browser(browser, server.base, email)
    page.set_viewport_size({"width": 1100, "height": 844})
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    return page


def go_to(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Console").get_by_role("link", name=name).click()


def titles(feed_url: str) -> list[str]:
    feed = gpodder(httpx.get(feed_url).content, feed_url)
    return sorted(episode["title"] for episode in feed["episodes"])


def audio_paths(feed_url: str) -> dict[str, str]:
    """Each episode's enclosure, as a path on the server."""
    feed = gpodder(httpx.get(feed_url).content, feed_url)
    return {e["title"]: urlsplit(e["enclosures"][0]["url"]).path for e in feed["episodes"]}


def run_the_jobs(server: Server, listening: Listening) -> None:
    """What the server does every few seconds (record the requests) and every ten minutes
    (roll up today's and yesterday's downloads, look for shared feeds, ...), now."""
    listening.record()
    server.app.app.state.jobs.run_once()  # type: ignore[attr-defined]


def page_link_of(smtp: SmtpServer, to: str, subject: str) -> str:
    """The page link in the one email to `to` with that subject."""
    (email,) = [m for m in smtp.messages() if (m["To"], m["Subject"]) == (to, subject)]
    plain, html = parts(email)
    (link,) = [str(found) for found in LINK.findall(plain) if "/my/" in found]
    assert f'href="{link}"' in html
    return link


def test_a_publishers_team_runs_a_whole_week_from_the_browser(
    browser: Browser, server: Server, smtp: SmtpServer, clock: Clock
) -> None:
    base, api = server.base, server.app
    worker = new_sender(api, server.settings, clock)
    listening = Listening(api, clock)
    make_staff(api, "owner@example.com", "owner")  # the first owner: the command line's job

    # Monday 08:00. The owner makes the team's accounts and the show.
    owner = log_in(browser, server, "owner@example.com")
    go_to(owner, "Accounts")
    for role in ("editor", "support", "analyst"):
        owner.get_by_label("Email").fill(f"{role}@example.com")
        owner.get_by_label("Role", exact=True).select_option(role)
        owner.get_by_label("Initial password (12 characters or more)").fill(PASSWORD)
        owner.get_by_role("button", name="Create the account").click()
        expect(owner.get_by_role("status")).to_contain_text(f"{role}@example.com can now log in")
    go_to(owner, "Shows")
    owner.get_by_label("Title").fill("Update")
    owner.get_by_label("Slug", exact=False).fill("update")
    owner.get_by_label("Description").fill("The day's news, in ten minutes.")
    owner.get_by_label("Apple Podcasts category").select_option("News/Daily News")
    owner.get_by_label("Author").fill("Stratechery")
    owner.get_by_label("Owner's name").fill("Stratechery")
    owner.get_by_label("Owner's email").fill("podcasts@example.com")
    owner.get_by_role("button", name="Create the show").click()
    expect(owner.get_by_role("status").first).to_contain_text("Update is created")
    owner.context.close()
    assert [s["slug"] for s in api.get("/admin/shows", headers=ADMIN).json()] == ["update"]
    assert [(u["email"], u["role"]) for u in api.get("/admin/users", headers=ADMIN).json()] == [
        ("owner@example.com", "owner"),
        ("editor@example.com", "editor"),
        ("support@example.com", "support"),
        ("analyst@example.com", "analyst"),
    ]

    # 08:30. Support makes the plan and adds two subscribers; they get their welcome.
    at(clock, MONDAY + timedelta(minutes=30))
    support = log_in(browser, server, "support@example.com")
    go_to(support, "Plans")
    new_plan = support.get_by_role("region", name="New plan")
    new_plan.get_by_label("Plan id").fill("daily")
    new_plan.get_by_label("Name", exact=True).fill("Daily Update")
    new_plan.get_by_label("Update").check()
    new_plan.get_by_role("button", name="Add the plan").click()
    expect(support.get_by_role("status")).to_have_text("Plan Daily Update (daily) gives: Update.")
    feeds = {}
    for email, name in (("ann@example.com", "Ann Lee"), ("sam@example.com", "Sam Shore")):
        go_to(support, "Subscribers")
        support.get_by_role("link", name="Add a subscriber").click()
        support.get_by_label("Email").fill(email)
        support.get_by_label("Name").fill(name)
        support.get_by_label("Plan").select_option("daily")
        support.get_by_role("button", name="Add the subscriber").click()
        expect(support.get_by_role("status")).to_contain_text(f"{email} is added")
        feeds[email] = support.get_by_label("Feed URL for Update").input_value()
    support.context.close()
    assert worker.send_due(clock()).sent == 2
    assert sorted(str(m["To"]) for m in smtp.messages()) == ["ann@example.com", "sam@example.com"]

    # 09:00. The editor uploads today's Update and publishes it, and schedules tomorrow's.
    at(clock, MONDAY + timedelta(hours=1))
    editor = log_in(browser, server, "editor@example.com")
    go_to(editor, "Shows")
    editor.get_by_role("link", name="Episodes of Update").click()
    for title in ("Update: Monday", "Update: Tuesday"):
        editor.get_by_label("Title (empty: the file's own title tag)").fill(title)
        editor.get_by_label("Drop an MP3 or M4A here, or choose one").set_input_files(MP3)
        expect(editor.get_by_role("heading", level=2).first).to_have_text(
            "Uploaded: check what was read from the file"
        )
        expect(editor.get_by_role("heading", level=1)).to_have_text(title)
        if title.endswith("Tuesday"):
            editor.get_by_label("Publish at").fill(f"{TUESDAY:%Y-%m-%d}T06:00")
        editor.get_by_role("button", name="Publish").click()
        expect(editor.get_by_role("status").first).to_contain_text(f"{title}: ")
        editor.get_by_role("link", name="Update: episodes").click()
    expect(editor.get_by_role("row").filter(has_text="Update: Monday")).to_contain_text("published")
    expect(editor.get_by_role("row").filter(has_text="Update: Tuesday")).to_contain_text(
        "scheduled"
    )
    editor.context.close()
    assert titles(feeds["ann@example.com"]) == ["Update: Monday"]

    # Tuesday 07:00: tomorrow's Update is in the feed. Ann listens to both at home.
    at(clock, TUESDAY + timedelta(hours=1))
    assert titles(feeds["ann@example.com"]) == ["Update: Monday", "Update: Tuesday"]
    anns = audio_paths(feeds["ann@example.com"])
    for title in ("Update: Tuesday", "Update: Monday"):
        listening.download({"ann": anns[title]}, title, "ann", HOME, APPLE)
    run_the_jobs(server, listening)

    # Wednesday 10:00. Sam's feed URL was posted on a forum: eight networks fetch it.
    at(clock, WEDNESDAY + timedelta(hours=2))
    sams = audio_paths(feeds["sam@example.com"])
    sam_feed = urlsplit(feeds["sam@example.com"]).path
    for n in range(8):
        ip = f"192.0.{n + 10}.7"
        assert listening.get(sam_feed, ip, OVERCAST) == 200
        listening.download({"sam": sams["Update: Monday"]}, "Update: Monday", "sam", ip, OVERCAST)
    run_the_jobs(server, listening)

    # 11:00. Ann lost her link: support finds her by part of her email and sends it.
    at(clock, WEDNESDAY + timedelta(hours=3))
    support = log_in(browser, server, "support@example.com")
    go_to(support, "Subscribers")
    support.get_by_label("Email, name or customer id").fill("ann@")
    support.get_by_role("button", name="Search").click()
    expect(support.locator("tr[data-subscriber]")).to_have_count(1)
    support.get_by_role("link", name="ann@example.com").click()
    support.get_by_role("button", name="Email it to ann@example.com").click()
    expect(support.get_by_role("status")).to_contain_text("on its way to ann@example.com")
    assert worker.send_due(clock()).sent == 1
    anns_page = browser.new_page()  # Ann's own browser, from the email
    anns_page.goto(page_link_of(smtp, "ann@example.com", "Your Podpass podcasts page"))
    expect(anns_page.get_by_label("Any other app: copy your private feed URL")).to_have_value(
        feeds["ann@example.com"]
    )
    anns_page.close()

    # Support finds who shares a feed, and rotates the URL: Sam is emailed his page link.
    go_to(support, "Alerts")
    alert = support.locator("article.alert").filter(has_text="sam@example.com")
    expect(alert).to_contain_text("8 networks")
    alert.get_by_text("Rotate the URL…").click()  # it asks first
    alert.get_by_role("button", name="Rotate the URL").click()
    expect(support.get_by_role("status")).to_contain_text(
        "sam@example.com is emailed their page link, which has the new one"
    )
    assert httpx.get(feeds["sam@example.com"]).status_code == 404
    go_to(support, "Subscribers")
    support.get_by_role("link", name="sam@example.com").click()
    sams_new_feed = support.get_by_label("Feed URL for Update").input_value()
    assert sams_new_feed != feeds["sam@example.com"]
    assert titles(sams_new_feed) == ["Update: Monday", "Update: Tuesday"]

    # But the SMTP server's port was mistyped: that email runs out of tries and is dead.
    broken = server.settings.model_copy(update={"smtp_port": free_port()})
    misconfigured = new_sender(api, broken, clock)
    for _ in range(3):
        outcome = misconfigured.send_due(clock())
        clock.advance(timedelta(minutes=10))
    assert outcome.dead == 1
    go_to(support, "Outbox")
    support.get_by_role("link", name="Dead").click()
    dead = support.locator("tr[data-message]")
    expect(dead).to_have_count(1)
    expect(dead).to_contain_text("url_reset")
    expect(dead).to_contain_text("sam@example.com")
    expect(dead).to_contain_text("Connection refused")
    # The port is corrected: support sends it again, and it arrives.
    dead.get_by_role("button", name=re.compile("^Send #[0-9]+ again$")).click()
    expect(support.get_by_role("status")).to_contain_text("goes out again")
    assert worker.send_due(clock()).sent == 1
    sams_page = browser.new_page()
    sams_page.goto(page_link_of(smtp, "sam@example.com", "Your feed address for Update was reset"))
    expect(sams_page.get_by_label("Any other app: copy your private feed URL")).to_have_value(
        sams_new_feed
    )
    sams_page.close()

    # Support changes subscribers, not episodes: no upload, in the page or behind it.
    support.goto(f"{base}/console/shows/update/episodes")
    expect(support.get_by_role("heading", name="Upload an episode")).to_have_count(0)
    csrf = support.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    refused = support.request.post(
        f"{base}/admin/shows/update/episodes",
        headers={"X-CSRF-Token": csrf},
        multipart={
            "audio": {"name": "x.mp3", "mimeType": "audio/mpeg", "buffer": MP3.read_bytes()}
        },
    )
    assert refused.status == 403
    support.context.close()

    # The next Monday. The analyst reads last week's numbers.
    at(clock, NEXT_MONDAY + timedelta(hours=1))
    analyst = log_in(browser, server, "analyst@example.com")
    go_to(analyst, "Shows")
    analyst.get_by_role("link", name="Analytics of Update").click()
    analyst.get_by_role("link", name="Last 7 days").click()
    expect(analyst.get_by_label("From", exact=True)).to_have_value(f"{TUESDAY:%Y-%m-%d}")
    made = len(listening.heard)
    assert made == 2 + 8
    expect(analyst.locator("#total-downloads")).to_have_text(str(made))
    expect(analyst.locator("#total-subscribers")).to_have_text("2")
    # The analyst reads; the episodes page has no upload form, and subscribers are closed.
    analyst.goto(f"{base}/console/shows/update/episodes")
    expect(analyst.get_by_role("heading", name="Upload an episode")).to_have_count(0)
    expect(analyst.get_by_role("row").filter(has_text="Update: Tuesday")).to_be_visible()
    assert analyst.goto(f"{base}/console/subscribers").status == 403  # type: ignore[union-attr]
    analyst.context.close()

    # The editor publishes; accounts are the owner's.
    editor = log_in(browser, server, "editor@example.com")
    assert editor.goto(f"{base}/console/accounts").status == 403  # type: ignore[union-attr]
    expect(editor.get_by_role("heading", level=1)).to_have_text("Not allowed")
    editor.context.close()
