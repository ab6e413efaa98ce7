"""The console's subscriber pages (issue 24, item 2): the list, adding and changing a
subscriber, CSV out and in, and a subscriber's page. Each task is checked where it shows
outside the console: the feed, the admin API, the command line's import."""

import csv
import html
import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.analytics.recorder import Recorder
from app.console import subscribers as subscriber_pages
from app.core.config import Settings
from app.core.db.engine import build_engine
from app.core.tokens import sign
from app.models import EventKind, FeedAccess, ListenEvent
from tests.browser import assert_fits_the_width
from tests.conftest import (
    SHOW,
    WEBHOOK_SECRET,
    feed_path,
    server_env,
    upload,
)
from tests.media import image
from tests.parsers import gpodder
from tests.test_console import (
    ADMIN,
    DOCS,
    as_role,
    csrf_of,
    insert_downloads,
    make_staff,
    staff_in_browser,
    statements_of,
)
from tests.test_feed_content import show_json

OVERCAST = {"User-Agent": "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)"}


@pytest.fixture
def shows(client: TestClient) -> TestClient:
    """Sharp Tech (one published episode) and Greatest of All Talk; a plan for each and a
    bundle of both."""
    assert client.post("/admin/shows", json=SHOW, headers=ADMIN).status_code == 201
    goat = show_json("goat", "Greatest of All Talk")
    assert client.post("/admin/shows", json=goat, headers=ADMIN).status_code == 201
    client.headers.update(ADMIN)
    assert upload(client, "sharp-tech", title="Episode 1: Hello", publish=True).status_code == 201
    del client.headers["Authorization"]
    for plan_id, name, slugs in (
        ("tech", "Sharp Tech plan", ["sharp-tech"]),
        ("goat", "GOAT plan", ["goat"]),
        ("bundle", "Everything", ["sharp-tech", "goat"]),
    ):
        answer = client.put(
            f"/admin/plans/{plan_id}", json={"name": name, "shows": slugs}, headers=ADMIN
        )
        assert answer.status_code == 200, answer.text
    return client


def api_subscriber(client: TestClient, email: str, **fields: Any) -> dict[str, Any]:
    answer = client.post("/admin/subscribers", json={"email": email, **fields}, headers=ADMIN)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def api_list(client: TestClient, **params: str) -> list[dict[str, Any]]:
    answer = client.get("/admin/subscribers", params=params, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


def listed(page_html: str) -> list[dict[str, str]]:
    """The list's rows, each cell by its column's label."""
    rows = re.findall(r'<tr data-subscriber="\d+">(.*?)</tr>', page_html, re.S)
    return [
        {
            label: re.sub(r"<[^>]+>", "", cell).strip()
            for label, cell in re.findall(r'<td data-label="([^"]+)">(.*?)</td>', row, re.S)
        }
        for row in rows
    ]


def recorder_of(client: TestClient) -> Recorder:
    recorder: Recorder = client.app.state.recorder  # type: ignore[attr-defined]
    return recorder


def feed_url_on(page_html: str, slug: str) -> str:
    found = re.search(rf'id="feed-{slug}" type="text" readonly value="([^"]+)"', page_html)
    assert found, f"no feed URL for {slug} on the page"
    return found[1]


# The list


def test_the_list_shows_plan_status_created_and_last_poll_in_one_query(shows: TestClient) -> None:
    planned = api_subscriber(shows, "ann@example.com", name="Ann Lee", plan="tech")
    api_subscriber(shows, "bob@example.com", shows=["goat"])
    shows.get(feed_path(planned, "sharp-tech"), headers=OVERCAST)
    recorder_of(shows).flush()
    as_role(shows, "support")

    with statements_of(shows) as statements:
        page = shows.get("/console/subscribers")
    assert page.status_code == 200
    rows = listed(page.text)
    assert [(r["Name"], r["Email"], r["Plan"], r["Status"]) for r in rows] == [
        ("Ann Lee", "ann@example.com", "Sharp Tech plan", "active"),
        ("", "bob@example.com", "shows by hand", "active"),
    ]
    assert all(r["Created"] for r in rows)
    assert rows[0]["Last poll"] != "none kept"
    assert rows[1]["Last poll"] == "none kept"
    # The last polls of the whole page in one query, whatever its length.
    assert sum("listen_events" in statement for statement in statements) == 1


def test_search_filters_and_pages_keep_the_filters(
    shows: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_subscriber(shows, "ann.lee@example.com", name="Ann Lee", plan="bundle")
    api_subscriber(shows, "bob@example.com", name="Bobby Annand", plan="tech", external_id="cus_9")
    api_subscriber(shows, "cat@example.com", shows=["goat"])
    dee = api_subscriber(shows, "dee@example.com", plan="tech")
    shows.post(f"/admin/subscribers/{dee['id']}/lapse", headers=ADMIN)
    as_role(shows, "support")

    def emails(query: str) -> list[str]:
        page = shows.get(f"/console/subscribers?{query}")
        assert page.status_code == 200, page.text
        return [row["Email"] for row in listed(page.text)]

    assert emails("q=ANN") == ["ann.lee@example.com", "bob@example.com"]  # email or name
    assert emails("q=cus_9") == ["bob@example.com"]
    assert emails("q=cus_") == []  # a customer id whole
    assert emails("q=100%25") == []  # % is a character, not a wildcard
    assert emails("plan=tech") == ["bob@example.com", "dee@example.com"]
    assert emails("plan=tech&status=lapsed") == ["dee@example.com"]
    assert emails("show=goat") == ["ann.lee@example.com", "cat@example.com"]
    assert emails("show=sharp-tech&q=ann") == ["ann.lee@example.com", "bob@example.com"]
    assert shows.get("/console/subscribers?status=asleep").status_code == 422
    # The admin API takes the same filters, and finds the same.
    for params in ({"q": "ANN"}, {"plan": "tech", "status": "lapsed"}, {"show": "goat"}):
        query = "&".join(f"{name}={value}" for name, value in params.items())
        assert [s["email"] for s in api_list(shows, **params)] == emails(query)

    monkeypatch.setattr(subscriber_pages, "PER_PAGE", 1)
    first = shows.get("/console/subscribers?show=sharp-tech&status=active")
    assert [row["Email"] for row in listed(first.text)] == ["ann.lee@example.com"]
    assert 'rel="prev"' not in first.text
    following = re.search(r'<a href="\?([^"]+)" rel="next">', first.text)
    assert following
    second = shows.get(f"/console/subscribers?{following[1].replace('&amp;', '&')}")
    assert [row["Email"] for row in listed(second.text)] == ["bob@example.com"]
    assert 'rel="next"' not in second.text  # dee lapsed, cat has no Sharp Tech
    back = re.search(r'<a href="\?([^"]+)" rel="prev">', second.text)
    assert back
    assert "show=sharp-tech" in back[1]
    assert "status=active" in back[1]
    again = shows.get(f"/console/subscribers?{back[1].replace('&amp;', '&')}")
    assert [row["Email"] for row in listed(again.text)] == ["ann.lee@example.com"]


# Adding one, and changing them


def test_a_subscriber_added_in_the_console_gets_a_working_feed(shows: TestClient) -> None:
    as_role(shows, "support")
    form = shows.get("/console/subscribers/new")
    added = shows.post(
        "/console/subscribers",
        data={
            "csrf": csrf_of(form.text),
            "email": "New@Example.com",
            "name": "New Listener",
            "plan": "",
            "shows": ["sharp-tech"],
        },
    )
    assert added.status_code == 200
    assert "new@example.com is added" in added.text
    feed = shows.get(feed_url_on(added.text, "sharp-tech").removeprefix("http://testserver"))
    assert feed.status_code == 200
    assert [e["title"] for e in gpodder(feed.content)["episodes"]] == ["Episode 1: Hello"]
    (found,) = api_list(shows, email="new@example.com")
    assert (found["name"], found["plan_id"]) == ("New Listener", None)  # a comp
    assert [(f["show"], f["entitled"]) for f in found["feeds"]] == [("sharp-tech", True)]

    with_plan = shows.post(
        "/console/subscribers",
        data={"csrf": csrf_of(form.text), "email": "planned@example.com", "plan": "bundle"},
    )
    assert "planned@example.com is added" in with_plan.text
    (planned,) = api_list(shows, email="planned@example.com")
    assert planned["plan_id"] == "bundle"
    assert sorted(f["show"] for f in planned["feeds"]) == ["goat", "sharp-tech"]


@pytest.mark.parametrize(
    ("email", "chosen", "problem"),
    [
        (
            "taken@example.com",
            ["goat"],
            "A subscriber with email taken@example.com already exists.",
        ),
        ("not an email", ["goat"], "email: must be an email address"),
        ("fresh@example.com", [], "shows: choose a plan, or at least one show."),
    ],
)
def test_a_refused_new_subscriber_keeps_what_was_typed(
    shows: TestClient, email: str, chosen: list[str], problem: str
) -> None:
    api_subscriber(shows, "taken@example.com", shows=["sharp-tech"])
    as_role(shows, "support")
    form = shows.get("/console/subscribers/new")
    refused = shows.post(
        "/console/subscribers",
        data={"csrf": csrf_of(form.text), "email": email, "name": "Typed Name", "shows": chosen},
    )
    assert refused.status_code == 422
    assert problem in refused.text
    assert f'name="email" type="email" value="{email}"' in refused.text
    assert 'value="Typed Name"' in refused.text
    for slug in chosen:
        assert f'value="{slug}" checked' in refused.text
    assert [s["email"] for s in api_list(shows)] == ["taken@example.com"]  # nothing written


def test_support_edits_email_and_name_and_a_taken_email_is_refused_inline(
    shows: TestClient,
) -> None:
    subscriber = api_subscriber(shows, "old@example.com", shows=["sharp-tech"])
    api_subscriber(shows, "taken@example.com", shows=["goat"])
    as_role(shows, "support")
    page = f"/console/subscribers/{subscriber['id']}"
    csrf = csrf_of(shows.get(page).text)
    saved = shows.post(
        f"{page}/details", data={"csrf": csrf, "email": "New@Example.com", "name": " Ann "}
    )
    assert "Saved: their email and name." in saved.text
    after = shows.get(f"/admin/subscribers/{subscriber['id']}", headers=ADMIN).json()
    assert (after["email"], after["name"]) == ("new@example.com", "Ann")

    refused = shows.post(
        f"{page}/details", data={"csrf": csrf, "email": "taken@example.com", "name": "Bea"}
    )
    assert refused.status_code == 422
    problems = re.search(
        r'<ul class="error" role="alert" id="details-problems">(.*?)</ul>', refused.text, re.S
    )
    assert problems
    assert "A subscriber with email taken@example.com already exists." in problems[1]
    assert 'id="email" name="email" type="email" value="taken@example.com"' in refused.text
    assert 'id="name" name="name" type="text" value="Bea"' in refused.text
    after = shows.get(f"/admin/subscribers/{subscriber['id']}", headers=ADMIN).json()
    assert (after["email"], after["name"]) == ("new@example.com", "Ann")


def test_support_changes_their_shows_and_plan(shows: TestClient) -> None:
    subscriber = api_subscriber(shows, "mover@example.com", shows=["sharp-tech"])
    sharp = feed_path(subscriber, "sharp-tech")
    as_role(shows, "support")
    page = f"/console/subscribers/{subscriber['id']}"
    csrf = csrf_of(shows.get(page).text)

    changed = shows.post(f"{page}/shows", data={"csrf": csrf, "shows": ["goat"]})
    assert "Their shows are now: Greatest of All Talk." in changed.text
    goat = feed_url_on(changed.text, "goat").removeprefix("http://testserver")
    assert gpodder(shows.get(goat).content)["title"] == "Greatest of All Talk"
    assert "inactive" in shows.get(sharp).text  # the same URL, saying so
    after = shows.get(f"/admin/subscribers/{subscriber['id']}", headers=ADMIN).json()
    assert {f["show"]: f["entitled"] for f in after["feeds"]} == {"sharp-tech": False, "goat": True}

    refused = shows.post(f"{page}/shows", data={"csrf": csrf})
    assert refused.status_code == 422
    assert "shows: choose at least one" in refused.text

    planned = shows.post(f"{page}/plan", data={"csrf": csrf, "plan": "bundle"})
    assert "Plan bundle: their shows are now Sharp Tech, Greatest of All Talk." in planned.text
    assert "inactive" not in shows.get(sharp).text  # the old URL works again
    after = shows.get(f"/admin/subscribers/{subscriber['id']}", headers=ADMIN).json()
    assert after["plan_id"] == "bundle"
    assert all(f["entitled"] for f in after["feeds"])

    by_hand = shows.post(f"{page}/plan", data={"csrf": csrf, "plan": ""})
    assert "No plan now" in by_hand.text
    after = shows.get(f"/admin/subscribers/{subscriber['id']}", headers=ADMIN).json()
    assert after["plan_id"] is None
    assert all(f["entitled"] for f in after["feeds"])
    # The API's own route for it.
    answer = shows.put(
        f"/admin/subscribers/{subscriber['id']}/plan", json={"plan": "goat"}, headers=ADMIN
    )
    assert answer.status_code == 200
    assert {f["show"]: f["entitled"] for f in answer.json()["feeds"]} == {
        "sharp-tech": False,
        "goat": True,
    }
    missing = shows.put(
        f"/admin/subscribers/{subscriber['id']}/plan", json={"plan": "nope"}, headers=ADMIN
    )
    assert missing.status_code == 404


# CSV out and in


def test_the_export_is_the_filtered_list_and_imports_back(shows: TestClient) -> None:
    api_subscriber(shows, "ann@example.com", name="Ann, Jr.", plan="bundle", external_id="cus_1")
    api_subscriber(shows, "bob@example.com", shows=["goat"])
    api_subscriber(shows, "cat@example.com", plan="tech")
    as_role(shows, "support")
    page = shows.get("/console/subscribers?show=goat")
    link = re.search(r'href="(/console/subscribers\.csv[^"]*)" download', page.text)
    assert link
    assert link[1] == "/console/subscribers.csv?show=goat"
    exported = shows.get(link[1])
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    api = api_list(shows, show="goat")
    assert [row["email"] for row in rows] == [s["email"] for s in api]
    for row, subscriber in zip(rows, api, strict=True):
        assert row["name"] == (subscriber["name"] or "")
        assert row["external_id"] == (subscriber["external_id"] or "")
        assert row["plan"] == (subscriber["plan_id"] or "")
        assert row["status"] == subscriber["status"]
        entitled = [f["show"] for f in subscriber["feeds"] if f["entitled"]]
        assert row["shows"].split() == entitled
        assert datetime.fromisoformat(row["joined"]) == datetime.fromisoformat(
            subscriber["created_at"]
        )
    # It is the import's own format: importing it back changes no one.
    form = shows.get("/console/subscribers/import")
    again = shows.post(
        "/console/subscribers/import",
        data={"csrf": csrf_of(form.text)},
        files={"file": ("subscribers.csv", exported.content, "text/csv")},
    )
    assert "Imported: 0 subscriber(s) created, 2 updated, 0 old feed URL(s) added." in again.text

    def unchanged(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in s.items() if k != "updated_at"} for s in found]

    assert unchanged(api_list(shows, show="goat")) == unchanged(api)


GOOD_CSV = (
    "email,name,external_id,plan,shows,status\n"
    "ann@example.com,Ann,cus_1,tech,,active\n"
    "bob@example.com,,cus_2,,goat,lapsed\n"
)
BAD_CSV = (
    "email,name,external_id,plan,shows,status\n"
    "ann@example.com,Ann,cus_1,tech,,active\n"
    "not-an-email,,cus_2,,goat,active\n"
    "cat@example.com,,cus_3,nope,nosuchshow,paused\n"
    "ann@example.com,,,,,\n"
)


def test_an_import_through_the_console_adds_what_the_api_then_lists(shows: TestClient) -> None:
    as_role(shows, "support")
    form = shows.get("/console/subscribers/import")
    done = shows.post(
        "/console/subscribers/import",
        data={"csrf": csrf_of(form.text), "welcome": "true"},
        files={"file": ("members.csv", ("\ufeff" + GOOD_CSV).encode(), "text/csv")},
    )
    assert "Imported: 2 subscriber(s) created, 0 updated, 0 old feed URL(s) added." in done.text
    found = {s["email"]: s for s in api_list(shows)}
    assert set(found) == {"ann@example.com", "bob@example.com"}
    assert (found["ann@example.com"]["plan_id"], found["ann@example.com"]["name"]) == (
        "tech",
        "Ann",
    )
    assert found["bob@example.com"]["status"] == "lapsed"
    assert [f["show"] for f in found["bob@example.com"]["feeds"]] == ["goat"]
    # --welcome's choice: new active subscribers get the welcome email, a lapsed one does not.
    outbox = shows.get("/admin/outbox", headers=ADMIN).json()
    welcomed = [m["payload"]["to"] for m in outbox if m["payload"].get("template") == "welcome"]
    assert welcomed == ["ann@example.com"]


def import_command(settings: Settings, path: Path) -> subprocess.CompletedProcess[str]:
    """`podpass import subscribers <path>`."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "import", "subscribers", str(path)],
        env=server_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_refused_import_lists_the_commands_problems_and_writes_nothing(
    shows: TestClient, settings: Settings, tmp_path: Path
) -> None:
    as_role(shows, "support")
    form = shows.get("/console/subscribers/import")
    refused = shows.post(
        "/console/subscribers/import",
        data={"csrf": csrf_of(form.text)},
        files={"file": ("members.csv", BAD_CSV.encode(), "text/csv")},
    )
    assert refused.status_code == 422
    assert "Nothing was imported" in refused.text
    listed_problems = re.search(r'<ul id="import-problems">(.*?)</ul>', refused.text, re.S)
    assert listed_problems
    shown = [html.unescape(line) for line in re.findall(r"<li>(.*?)</li>", listed_problems[1])]
    assert api_list(shows) == []

    # `podpass import subscribers` says the same, line for line, and imports nothing too.
    path = tmp_path / "members.csv"
    path.write_text(BAD_CSV, encoding="utf-8")
    command = import_command(settings, path)
    assert command.returncode == 1
    said = command.stderr.splitlines()
    assert said[-1] == f"{path}: nothing was imported."
    assert [line.removeprefix(f"{path}: ") for line in said[:-1]] == shown
    assert any(line.startswith("line 3: email: must be an email address: ") for line in shown)
    assert not any("value is not a valid email address" in line for line in shown)
    assert "line 5: email ann@example.com is on line 2 too" in shown
    assert api_list(shows) == []

    # No line is at fault in a file that is not a CSV in UTF-8 (the trial: "fix these lines").
    for name, content in (
        ("members.csv", b"email\n\xff\xfe\n"),
        ("cover.png", image(200)),
        ("members.csv", "email\nann@example.com\n".encode("utf-16-le")),  # no byte-order mark
    ):
        not_csv = shows.post(
            "/console/subscribers/import",
            data={"csrf": csrf_of(form.text)},
            files={"file": (name, content, "text/csv")},
        )
        assert not_csv.status_code == 422
        assert "The file is not a CSV in UTF-8" in not_csv.text, name
        assert "fix these lines" not in not_csv.text
    assert api_list(shows) == []
    path.write_text("email\nann@example.com\n", encoding="utf-16")
    command = import_command(settings, path)
    assert command.returncode == 1
    assert f"{path}: The file is not a CSV in UTF-8" in command.stderr


# A subscriber's page


def test_the_subscribers_page_shows_plan_billing_past_due_and_listening(
    shows: TestClient, settings: Settings
) -> None:
    api_subscriber(shows, "payer@example.com", name="Payer", plan="tech", external_id="cus_123")
    sent_at = int(datetime.now(UTC).timestamp()) - 60
    body = (
        '{"id": "evt_past_due_1", "type": "subscription.past_due", '
        f'"created": {sent_at}, "data": {{"customer_id": "cus_123"}}}}'
    ).encode()
    answer = shows.post(
        "/webhooks/billing",
        content=body,
        headers={
            "Podpass-Signature": sign(WEBHOOK_SECRET, int(datetime.now(UTC).timestamp()), body),
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 200, answer.text
    (payer,) = api_list(shows, email="payer@example.com")
    assert payer["past_due_since"] is not None
    episode = shows.get("/admin/shows/sharp-tech/episodes", headers=ADMIN).json()[0]
    insert_downloads(
        settings.database_url,
        episode["id"],
        shows.get("/admin/shows/sharp-tech", headers=ADMIN).json()["id"],
        {datetime.now(UTC).date(): [payer["id"]]},
    )
    as_role(shows, "support")
    page = shows.get(f"/console/subscribers/{payer['id']}").text
    assert "Sharp Tech plan" in re.search(r'<dd id="plan-now">(.*?)</dd>', page, re.S)[1]  # type: ignore[index]
    assert "since" in re.search(r'<dd id="past-due">(.*?)</dd>', page, re.S)[1]  # type: ignore[index]
    billing = re.search(r'<dd id="last-billing-event">(.*?)</dd>', page, re.S)
    assert billing
    assert "subscription.past_due" in billing[1]
    listens = re.search(r'<table class="stack" id="listens">(.*?)</table>', page, re.S)
    assert listens
    assert "Episode 1: Hello" in listens[1]
    assert "Overcast" in listens[1]
    assert "iPhone" in listens[1]


# In a browser, at desktop and phone widths


def insert_polls(database_url: str, polls: dict[int, datetime]) -> None:
    """A feed poll by each subscriber (id) at its time, as the recorder writes one."""
    engine = build_engine(database_url)
    with Session(engine) as session, session.begin():
        for subscriber_id, at in polls.items():
            feed = session.scalars(
                select(FeedAccess).filter_by(subscriber_id=subscriber_id)
            ).first()
            assert feed is not None
            session.add(
                ListenEvent(
                    at=at,
                    kind=EventKind.FEED,
                    token_id=feed.token_id,
                    subscriber_id=subscriber_id,
                    show_id=feed.show_id,
                    status=200,
                    method="GET",
                    user_agent=OVERCAST["User-Agent"],
                    ip_hash="0" * 32,
                    ip_prefix="198.51.100.0/24",
                    app="Overcast",
                )
            )
    engine.dispose()


@pytest.fixture
def browsed(live: tuple[str, httpx.Client], settings: Settings) -> tuple[str, httpx.Client]:
    """A live server with both shows, the plans, a dozen subscribers (most of whom polled
    their feeds, and the first downloaded), and support's account."""
    base, admin = live
    sharp = admin.post("/admin/shows", json=SHOW).json()
    admin.post("/admin/shows", json=show_json("goat", "Greatest of All Talk"))
    episode = upload(admin, "sharp-tech", title="Episode 1: Hello", publish=True).json()
    admin.put("/admin/plans/tech", json={"name": "Sharp Tech plan", "shows": ["sharp-tech"]})
    admin.put("/admin/plans/bundle", json={"name": "Everything", "shows": ["sharp-tech", "goat"]})
    ids = []
    for n, (name, plan) in enumerate(
        [("Ann Lee", "bundle"), ("Bob Stone", "tech"), ("", ""), ("Dee Park", "tech")] * 3
    ):
        fields: dict[str, Any] = {"plan": plan} if plan else {"shows": ["goat"]}
        if name:
            fields["name"] = f"{name} {n}"
        answer = admin.post(
            "/admin/subscribers", json={"email": f"listener{n}@example.com", **fields}
        )
        ids.append(answer.json()["id"])
    now = datetime.now(UTC)
    insert_polls(
        settings.database_url,
        {subscriber_id: now - timedelta(hours=5 * n) for n, subscriber_id in enumerate(ids[:9])},
    )
    days = {now.date() - timedelta(days=n): [ids[0]] for n in range(3)}
    insert_downloads(settings.database_url, episode["id"], sharp["id"], days)
    make_staff(admin, "support@example.com", "support")
    return base, admin


@pytest.mark.parametrize("width", [1100, 390])
def test_support_finds_adds_and_changes_a_subscriber_in_a_browser(
    browser: Browser, browsed: tuple[str, httpx.Client], settings: Settings, width: int
) -> None:
    base, admin = browsed
    page = staff_in_browser(browser, base, "support@example.com")
    page.set_viewport_size({"width": width, "height": 844})
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Subscribers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Subscribers")
    page.get_by_label("Plan").select_option("tech")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tr[data-subscriber]")).to_have_count(6)
    assert_fits_the_width(page)
    if os.environ.get("PODPASS_SCREENSHOT") and width > 1000:
        page.goto(f"{base}/console/subscribers")
        page.screenshot(path=str(DOCS / "console-subscribers.png"), full_page=True)

    page.goto(f"{base}/console/subscribers")
    page.get_by_role("link", name="Add a subscriber").click()
    page.get_by_label("Email").fill("browser@example.com")
    page.get_by_label("Name").fill("Bea Browser")
    page.get_by_label("Sharp Tech").check()
    page.get_by_role("button", name="Add the subscriber").click()
    expect(page.get_by_role("status")).to_contain_text("browser@example.com is added")
    expect(page.get_by_role("heading", level=1)).to_have_text("browser@example.com")
    assert_fits_the_width(page)
    feed_url = page.get_by_label("Feed URL for Sharp Tech").input_value()
    feed = httpx.get(feed_url)
    assert [e["title"] for e in gpodder(feed.content, feed_url)["episodes"]] == ["Episode 1: Hello"]

    page.get_by_label("Plan", exact=True).select_option("bundle")
    page.get_by_role("button", name="Set the plan").click()
    expect(page.get_by_role("status")).to_contain_text("Plan bundle")
    (added,) = admin.get("/admin/subscribers", params={"email": "browser@example.com"}).json()
    assert added["plan_id"] == "bundle"
    assert sorted(f["show"] for f in added["feeds"] if f["entitled"]) == ["goat", "sharp-tech"]
    expect(page.locator("#plan-now")).to_contain_text("Everything")
    assert_fits_the_width(page)

    page.goto(f"{base}/console/subscribers?q=listener0%40")
    expect(page.locator("tr[data-subscriber] td[data-label='Last poll']")).not_to_have_text(
        "none kept"
    )
    page.get_by_role("link", name="listener0@example.com").click()
    expect(page.locator("#listens tbody tr")).to_have_count(3)
    expect(page.locator("#listens tbody tr").first).to_contain_text("Episode 1: Hello")
    assert_fits_the_width(page)
    if os.environ.get("PODPASS_SCREENSHOT") and width > 1000:
        page.screenshot(path=str(DOCS / "console-subscriber.png"), full_page=True)
