"""The console's analytics pages (a show's, an episode's), the dashboard's chart, and the
analyst's read-only view of shows and episodes.

Downloads are made as apps make them: real requests to the feed and audio routes, with real
apps' user agents, from several addresses, at times the injected clock sets; then recorded
and rolled up. The expected numbers are worked out here from those requests, by hand."""

import csv
import io
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import feedparser
import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from app.analytics import service as analytics
from app.console import charts
from app.core.clock import utcnow
from app.core.config import Settings
from app.core.db.engine import Database
from app.core.db.session import transaction
from app.main import create_app
from tests.browser import assert_fits_the_width, open_page
from tests.conftest import ADMIN_KEY, SHOW, Clock, feed_path, upload
from tests.test_console import (
    ADMIN,
    DOCS,
    PASSWORD,
    SVG,
    as_role,
    csrf_of,
    insert_downloads,
    make_staff,
)

# Real apps' user agents (the OPAWG examples), and what the OPAWG list makes of them.
OVERCAST = "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)"
APPLE = "Podcasts/1709.2.2 CFNetwork/1390 Darwin/22.0.0"
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15"
)
APPS = {OVERCAST: ("Overcast", "mobile"), APPLE: ("Apple Podcasts", "mobile")}
APPS[SAFARI] = ("Safari", "computer")

RELEASE = datetime(2030, 1, 7, 10, tzinfo=UTC)  # a Monday
NOW = RELEASE + timedelta(days=45)  # 2030-02-21


@dataclass(frozen=True)
class Heard:
    """A download as the test made it."""

    day: date
    episode: str
    subscriber: str
    ip: str
    user_agent: str


def at(clock: Clock, moment: datetime) -> None:
    clock.advance(moment - clock())


def audio_url(client: TestClient, feed: str, title: str) -> str:
    entries = feedparser.parse(client.get(feed, headers={"User-Agent": OVERCAST}).content).entries
    href: str = next(entry for entry in entries if entry.title == title).enclosures[0].href
    return href.removeprefix("http://testserver")


class Listening:
    """Requests to the app as listeners' apps make them, then recorded and rolled up."""

    def __init__(self, client: TestClient, clock: Clock) -> None:
        self.client, self.clock = client, clock
        self.db: Database = client.app.state.db  # type: ignore[attr-defined]
        self.heard: list[Heard] = []
        self.days: set[date] = set()

    def get(self, path: str, ip: str, user_agent: str, **headers: str) -> int:
        # Another address: another client of the same running app.
        listener = TestClient(self.client.app, client=(ip, 50000))
        response = listener.get(path, headers={"User-Agent": user_agent, **headers})
        self.days.add(self.clock().date())
        return response.status_code

    def download(self, audio: dict[str, str], episode: str, who: str, ip: str, agent: str) -> None:
        """The probe apps send first, then the whole file: one download."""
        assert self.get(audio[who], ip, agent, Range="bytes=0-1") == 206
        assert self.get(audio[who], ip, agent) == 200
        self.heard.append(Heard(self.clock().date(), episode, who, ip, agent))

    def record(self) -> None:
        """What the recorder's thread does every few seconds, now."""
        self.client.app.state.recorder.flush()  # type: ignore[attr-defined]

    def roll_up(self) -> None:
        with transaction(self.db.writer) as session:
            for day in sorted(self.days):
                analytics.rollup(session, day)


@pytest.fixture
def listened(client: TestClient, clock: Clock) -> tuple[Listening, dict[str, dict[str, Any]]]:
    """Sharp Tech: episode One out on RELEASE, Two nine days later, Three scheduled; two
    subscribers download them over 40 days; the clock ends at NOW."""
    client.headers.pop("Authorization", None)
    assert client.post("/admin/shows", json=SHOW, headers=ADMIN).status_code == 201
    ann = client.post(
        "/admin/subscribers",
        json={"email": "ann@example.com", "shows": ["sharp-tech"]},
        headers=ADMIN,
    ).json()
    bob = client.post(
        "/admin/subscribers",
        json={"email": "bob@example.com", "shows": ["sharp-tech"]},
        headers=ADMIN,
    ).json()
    feeds = {"ann": feed_path(ann, "sharp-tech"), "bob": feed_path(bob, "sharp-tech")}
    admin = TestClient(client.app, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    listening = Listening(client, clock)

    at(clock, RELEASE)
    one = upload(admin, "sharp-tech", title="One", publish=True).json()
    one_audio = {who: audio_url(client, feed, "One") for who, feed in feeds.items()}
    at(clock, RELEASE + timedelta(hours=1))
    listening.download(one_audio, "One", "ann", "203.0.113.7", OVERCAST)
    at(clock, RELEASE + timedelta(hours=2))
    listening.download(one_audio, "One", "bob", "198.51.100.9", APPLE)
    # Ann again that day, same phone: the same download.
    assert listening.get(one_audio["ann"], "203.0.113.7", OVERCAST) == 200
    # A HEAD and a bot fetch nothing that counts.
    assert listening.client.head(one_audio["ann"]).status_code == 200
    assert listening.get(one_audio["bob"], "192.0.2.1", "Googlebot/2.1") == 200
    listening.record()
    at(clock, RELEASE + timedelta(days=3))
    listening.download(one_audio, "One", "ann", "203.0.113.7", OVERCAST)
    listening.record()

    at(clock, RELEASE + timedelta(days=9))
    two = upload(admin, "sharp-tech", title="Two", publish=True).json()
    two_audio = {who: audio_url(client, feed, "Two") for who, feed in feeds.items()}
    at(clock, RELEASE + timedelta(days=9, hours=5))
    listening.download(two_audio, "Two", "ann", "203.0.113.7", OVERCAST)
    listening.download(two_audio, "Two", "bob", "198.51.100.77", SAFARI)
    listening.record()
    at(clock, RELEASE + timedelta(days=10))
    listening.download(one_audio, "One", "bob", "198.51.100.9", APPLE)
    listening.record()
    at(clock, RELEASE + timedelta(days=40))
    listening.download(one_audio, "One", "ann", "192.0.2.44", OVERCAST)
    listening.record()

    at(clock, NOW)
    later = (NOW + timedelta(days=5)).isoformat()
    three = upload(admin, "sharp-tech", title="Three", publish=True, published_at=later).json()
    listening.roll_up()
    return listening, {"One": one, "Two": two, "Three": three}


def expected(heard: list[Heard], first: date, last: date) -> dict[str, Any]:
    """The report's numbers over [first, last], from the downloads made."""
    shown = [h for h in heard if first <= h.day <= last]

    def counts(downloads: list[Heard]) -> tuple[int, int, int]:
        listeners = {(h.day, h.ip, h.user_agent) for h in downloads}
        return len(downloads), len(listeners), len({h.subscriber for h in downloads})

    def grouped(name_of: Any) -> list[tuple[str, int, int, int]]:
        names = {name_of(h) for h in shown}
        rows = [(name, *counts([h for h in shown if name_of(h) == name])) for name in names]
        return sorted(rows, key=lambda row: (-row[1], row[0]))

    return {
        "totals": counts(shown),
        "apps": grouped(lambda h: APPS[h.user_agent][0]),
        "devices": grouped(lambda h: APPS[h.user_agent][1].capitalize()),
        "episodes": grouped(lambda h: h.episode),
    }


def table(page: str, table_id: str) -> list[tuple[str, ...]]:
    """A table's body rows as text (tags removed), cell by cell."""
    found = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', page, re.S)
    assert found, f"no table {table_id}"
    rows = re.findall(r"<tr>(.*?)</tr>", found[1], re.S)
    cells = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S) for row in rows]
    return [tuple(re.sub(r"<[^>]+>", "", cell).strip() for cell in row) for row in cells]


def numbers(rows: list[tuple[str, ...]]) -> list[tuple[str | int, ...]]:
    return [(row[0], *(int(cell) for cell in row[1:])) for row in rows]


def totals(page: str) -> tuple[int, int, int]:
    found = [
        re.search(rf'<dd id="total-{name}">(\d+)</dd>', page)
        for name in ("downloads", "listeners", "subscribers")
    ]
    assert all(found), page
    return tuple(int(match[1]) for match in found if match)  # type: ignore[return-value]


def csv_link(page: str, label_after: str = "of this range") -> str:
    found = re.search(
        rf'<a class="button secondary" href="([^"]+)" download>Download CSV</a> '
        rf'<span class="muted">{label_after}',
        page,
    )
    assert found, "no CSV link"
    return found[1].replace("&amp;", "&")


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# Over HTTP


def test_a_shows_analytics_page_counts_the_downloads_made(
    client: TestClient, clock: Clock, listened: tuple[Listening, dict[str, dict[str, Any]]]
) -> None:
    listening, _ = listened
    as_role(client, "analyst")
    page = client.get("/console/shows/sharp-tech/analytics", params={"from": "2030-01-07"})
    assert page.status_code == 200, page.text
    want = expected(listening.heard, date(2030, 1, 7), NOW.date())
    assert totals(page.text) == want["totals"] == (7, 7, 2)
    assert numbers(table(page.text, "apps")) == want["apps"]
    assert numbers(table(page.text, "devices")) == want["devices"]
    assert numbers(table(page.text, "top-episodes")) == want["episodes"]
    per_day = {row[0]: row[1:] for row in numbers(table(page.text, "periods"))}
    assert len(per_day) == (NOW.date() - date(2030, 1, 7)).days + 1
    assert per_day["2030-01-07"] == per_day["2030-01-16"] == (2, 2, 2)
    assert sum(downloads for downloads, _, _ in per_day.values()) == 7  # type: ignore[misc]

    # The CSV of what is shown is the analytics API's, for the same range.
    link = csv_link(page.text)
    assert link == (
        "/admin/analytics/shows/sharp-tech?from=2030-01-07&to=2030-02-21&interval=day&format=csv"
    )
    shown_csv = client.get(link)
    assert shown_csv.status_code == 200
    assert shown_csv.headers["content-type"] == "text/csv; charset=utf-8"
    api = client.get(link, headers=ADMIN)
    assert shown_csv.text == api.text
    rows = rows_of(shown_csv.text)
    total = next(row for row in rows if row["section"] == "total")
    assert (total["downloads"], total["unique_listeners"], total["unique_subscribers"]) == (
        "7",
        "7",
        "2",
    )
    assert [(r["name"], int(r["downloads"])) for r in rows if r["section"] == "episode"] == [
        (name, downloads) for name, downloads, *_ in want["episodes"]
    ]
    report = client.get(link.replace("&format=csv", ""), headers=ADMIN).json()
    assert [e["title"] for e in report["top_episodes"]] == ["One", "Two"]

    # Per week: the same downloads, in Monday-to-Sunday weeks.
    weekly = client.get(
        "/console/shows/sharp-tech/analytics",
        params={"from": "2030-01-07", "to": "2030-01-20", "interval": "week"},
    )
    assert numbers(table(weekly.text, "periods")) == [
        ("2030-01-14 to 2030-01-20", 3, 3, 2),
        ("2030-01-07 to 2030-01-13", 3, 3, 2),
    ]
    assert "interval=week&amp;format=csv" in weekly.text


def test_downloads_after_release_on_the_show_and_episode_pages(
    client: TestClient, listened: tuple[Listening, dict[str, dict[str, Any]]]
) -> None:
    _, episodes = listened
    as_role(client, "analyst")
    page = client.get("/console/shows/sharp-tech/analytics").text
    # One: out on Jan 7, downloaded on Jan 7 (twice), 10, 17 and Feb 16; 45 days ago.
    # Two: out on Jan 16, downloaded twice that day; 36 days ago. Three is not out yet.
    assert [row[:1] + row[2:] for row in table(page, "releases")] == [
        ("Two", "2", "2", "2", "not yet"),
        ("One", "2", "3", "4", "not yet"),
    ]
    api = client.get("/admin/analytics/shows/sharp-tech/releases", headers=ADMIN).json()
    assert [(e["title"], [m["downloads"] for m in e["after"]]) for e in api["episodes"]] == [
        ("Two", [2, 2, 2, None]),
        ("One", [2, 3, 4, None]),
    ]
    assert [m["days"] for m in api["episodes"][0]["after"]] == [1, 7, 30, 90]
    releases_csv = client.get(csv_link(page, "of this table"))
    assert (
        releases_csv.text
        == client.get("/admin/analytics/shows/sharp-tech/releases?format=csv", headers=ADMIN).text
    )
    assert [
        (row["title"], row["after_1_day"], row["after_7_days"], row["after_90_days"])
        for row in rows_of(releases_csv.text)
    ] == [("Two", "2", "2", ""), ("One", "2", "3", "")]

    one = episodes["One"]["id"]
    episode_page = client.get(
        f"/console/episodes/{one}/analytics", params={"from": "2030-01-07", "to": "2030-01-13"}
    ).text
    assert totals(episode_page) == (3, 3, 2)
    assert [row[:1] + row[2:] for row in table(episode_page, "releases")] == [
        ("One", "2", "3", "4", "not yet")
    ]
    assert 'id="top-episodes"' not in episode_page
    episode_csv = client.get(csv_link(episode_page))
    assert (
        episode_csv.text
        == client.get(
            f"/admin/analytics/episodes/{one}?from=2030-01-07&to=2030-01-13&interval=day&format=csv",
            headers=ADMIN,
        ).text
    )
    three = client.get(f"/console/episodes/{episodes['Three']['id']}/analytics").text
    assert "Nothing released yet." in three
    assert (
        client.get(
            f"/admin/analytics/episodes/{episodes['Three']['id']}/release", headers=ADMIN
        ).json()["episodes"]
        == []
    )


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"from": "2030-02-10", "to": "2030-02-01"}, "The range starts (2030-02-10) after it ends"),
        ({"from": "yesterday"}, "From: “yesterday” is not a date."),
        ({"from": "0001-01-01"}, "A report covers at most 3660 days."),
    ],
)
def test_a_bad_range_is_explained_on_the_page(
    client: TestClient, clock: Clock, query: dict[str, str], problem: str
) -> None:
    assert client.post("/admin/shows", json=SHOW, headers=ADMIN).status_code == 201
    as_role(client, "analyst")
    page = client.get("/console/shows/sharp-tech/analytics", params=query)
    assert page.status_code == 200
    assert 'id="range-problem"' in page.text
    assert problem in page.text
    assert f'name="from" value="{query["from"]}"' in page.text  # as typed, to fix
    assert 'Download CSV</a> <span class="muted">of this range' not in page.text
    assert "Last 30 days" in page.text


def test_the_analyst_reads_shows_and_episodes_but_changes_nothing(client: TestClient) -> None:
    assert client.post("/admin/shows", json=SHOW, headers=ADMIN).status_code == 201
    admin = TestClient(client.app, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    episode = upload(admin, "sharp-tech", title="Hello", publish=True).json()
    as_role(client, "analyst")

    shows = client.get("/console/shows").text
    assert 'href="/console/shows/sharp-tech/analytics"' in shows
    assert ">Details</a>" in shows
    assert ">Edit</a>" not in shows
    show_page = client.get("/console/shows/sharp-tech")
    assert show_page.status_code == 200
    assert '<fieldset class="plain" disabled>' in show_page.text
    for form in ("Save</button>", "Upload artwork", "Save the welcome item"):
        assert form not in show_page.text
    episodes = client.get("/console/shows/sharp-tech/episodes").text
    assert "Hello" in episodes
    assert "Upload an episode" not in episodes
    episode_page = client.get(f"/console/episodes/{episode['id']}").text
    assert f'href="/console/episodes/{episode["id"]}/analytics"' in episode_page
    for form in ("Save</button>", "Unpublish", "Upload chapters", "Change the date"):
        assert form not in episode_page

    csrf = csrf_of(show_page.text)
    refused = client.post("/console/shows/sharp-tech", data={"csrf": csrf, "title": "Mine"})
    assert refused.status_code == 403
    unpublish = client.post(f"/console/episodes/{episode['id']}/unpublish", data={"csrf": csrf})
    assert unpublish.status_code == 403
    assert admin.get("/admin/shows/sharp-tech").json()["title"] == "Sharp Tech"
    assert admin.get(f"/admin/episodes/{episode['id']}").json()["status"] == "published"


def test_an_editor_still_sees_the_forms(client: TestClient) -> None:
    assert client.post("/admin/shows", json=SHOW, headers=ADMIN).status_code == 201
    as_role(client, "editor")
    show_page = client.get("/console/shows/sharp-tech").text
    assert '<fieldset class="plain">' in show_page
    assert "Save</button>" in show_page
    assert "Save the welcome item" in show_page


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (0, [0, 1]),
        (3, [0, 1, 2, 3]),
        (57, [0, 20, 40, 60]),
        (100, [0, 20, 40, 60, 80, 100]),
        (101, [0, 50, 100, 150]),
        (1234, [0, 500, 1000, 1500]),
    ],
)
def test_count_ticks_are_1_2_or_5_times_a_power_of_ten_apart(top: int, ticks: list[int]) -> None:
    assert charts.count_ticks(top) == ticks


def y_ticks(svg: str) -> list[int]:
    tree = ElementTree.fromstring(svg)
    axis = next(g for g in tree.iter(f"{SVG}g") if "axis y" in (g.get("class") or ""))
    return [int(text.text or "") for text in axis.iter(f"{SVG}text")]


def x_labels(svg: str) -> list[str]:
    tree = ElementTree.fromstring(svg)
    axis = next(g for g in tree.iter(f"{SVG}g") if (g.get("class") or "") == "axis x")
    return [text.text or "" for text in axis.iter(f"{SVG}text")]


def test_the_dashboard_chart_starts_at_the_first_data_with_readable_ticks(
    client: TestClient, settings: Settings
) -> None:
    """Issue 24: oversized axis text, ticks at 19/38/57, and mostly a flat zero line."""
    show = client.post("/admin/shows", json=SHOW, headers=ADMIN).json()
    admin = TestClient(client.app, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    episode = upload(admin, "sharp-tech", title="Hello", publish=True).json()
    today = utcnow().date()
    first = today - timedelta(days=20)
    insert_downloads(
        settings.database_url,
        episode["id"],
        show["id"],
        {first: [1, 2], today - timedelta(days=3): list(range(57))},
    )
    as_role(client, "analyst")
    page = client.get("/console/").text
    svg = re.search(r'<figure class="chart" id="downloads-chart">\s*(<svg.*?</svg>)', page, re.S)
    assert svg
    assert y_ticks(svg[1]) == [0, 20, 40, 60]
    assert x_labels(svg[1])[0] == first.isoformat()
    assert f'<th scope="row">{first}</th>' in page
    assert f'<th scope="row">{first - timedelta(days=1)}</th>' not in page
    sizes = [int(size) for size in re.findall(r"\.axis text[^{]*\{[^}]*font-size:(\d+)px", svg[1])]
    assert sizes
    assert max(sizes) <= 13


# In a browser


@pytest.mark.parametrize("width", [1100, 390])
def test_an_analyst_reads_a_shows_analytics_in_a_browser(
    browser: Browser,
    live: tuple[str, httpx.Client],
    settings: Settings,
    clock: Clock,
    width: int,
) -> None:
    base, admin = live
    admin.post("/admin/shows", json=SHOW)
    now = clock()
    released = {
        "Episode 1: Hello": now - timedelta(days=20),
        "Episode 2: Again": now - timedelta(days=4),
    }
    for title, when in released.items():
        made = upload(admin, "sharp-tech", title=title, publish=True, published_at=when.isoformat())
        assert made.status_code == 201, made.text
    people = ("ann", "bob", "cat")
    feeds = {
        who: feed_path(
            admin.post(
                "/admin/subscribers",
                json={"email": f"{who}@example.com", "shows": ["sharp-tech"]},
            ).json(),
            "sharp-tech",
        )
        for who in people
    }
    make_staff(admin, "analyst@example.com", "analyst")
    phones = {"ann": ("203.0.113.7", OVERCAST), "bob": ("198.51.100.9", APPLE)}
    phones["cat"] = ("192.0.2.44", SAFARI)
    plays = [  # (days after now, episode, who)
        (-20 + 1 / 24, "Episode 1: Hello", "ann"),
        (-20 + 1 / 24, "Episode 1: Hello", "bob"),
        (-18, "Episode 1: Hello", "ann"),
        (-14, "Episode 1: Hello", "cat"),
        (-4 + 2 / 24, "Episode 2: Again", "ann"),
        (-4 + 2 / 24, "Episode 2: Again", "bob"),
        (-4 + 2 / 24, "Episode 2: Again", "cat"),
        (-1, "Episode 1: Hello", "bob"),
        (0, "Episode 2: Again", "ann"),
    ]
    # Listeners reach the same database through another app (the live server's clock is
    # the real one: so is this app's, moved back to each listen and on again).
    with TestClient(create_app(settings, clock)) as client:
        listening = Listening(client, clock)
        audio = {
            (title, who): audio_url(client, feed, title)
            for title in released
            for who, feed in feeds.items()
        }
        for days, title, who in plays:
            at(clock, now + timedelta(days=days))
            links = {name: audio[title, name] for name in people}
            listening.download(links, title, who, *phones[who])
            listening.record()
        at(clock, now)
        listening.roll_up()
    today = now.date()
    want = expected(listening.heard, today - timedelta(days=29), today)

    page = open_page(browser, f"{base}/console/", width=width)
    page.get_by_label("Email").fill("analyst@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    if width < 1000:  # by the Shows list, or by the dashboard's chart
        page.get_by_role("navigation", name="Console").get_by_role("link", name="Shows").click()
    page.get_by_role("link", name="Analytics of Sharp Tech").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sharp Tech: analytics")
    shown_totals = [
        page.locator(f"#total-{name}").inner_text()
        for name in ("downloads", "listeners", "subscribers")
    ]
    assert shown_totals == [str(n) for n in want["totals"]] == ["9", "9", "3"]
    expect(page.locator("#apps tbody tr")).to_have_text(
        [re.compile(r"\s*".join(map(str, row))) for row in want["apps"]]
    )
    expect(page.locator("#top-episodes tbody tr")).to_have_text(
        [re.compile(r"\s*".join(map(str, row))) for row in want["episodes"]]
    )
    releases = page.locator("#releases tbody tr")
    expect(releases.nth(0).locator("td")).to_have_text(
        ["Episode 2: Again", re.compile("."), "3", "not yet", "not yet", "not yet"]
    )
    expect(releases.nth(1).locator("td")).to_have_text(
        ["Episode 1: Hello", re.compile("."), "2", "4", "not yet", "not yet"]
    )
    assert_fits_the_width(page)
    if os.environ.get("PODPASS_SCREENSHOT") and width > 1000:
        page.screenshot(path=str(DOCS / "console-show-analytics.png"), full_page=True)

    page.get_by_role("link", name="Last 7 days").click()
    expect(page.get_by_label("From", exact=True)).to_have_value(
        (today - timedelta(days=6)).isoformat()
    )
    page.get_by_role("link", name="Per week").click()
    expect(page.get_by_role("heading", name="Downloads per week")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").first.click()
    shown = download.value.path().read_bytes()
    api = admin.get(
        "/admin/analytics/shows/sharp-tech",
        params={
            "from": (today - timedelta(days=6)).isoformat(),
            "to": today.isoformat(),
            "interval": "week",
            "format": "csv",
        },
    )
    assert shown == api.content
    page.get_by_label("From", exact=True).fill("2030-01-02")
    page.get_by_label("To", exact=True).fill("2030-01-01")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#range-problem")).to_contain_text(
        "The range starts (2030-01-02) after it ends"
    )
    expect(page.get_by_label("From", exact=True)).to_have_value("2030-01-02")

    page.get_by_role("link", name="Episode 1: Hello").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Episode 1: Hello: analytics")
    expect(page.locator("#total-downloads")).to_have_text("5")
    page.get_by_role("link", name="Episode 1: Hello", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Episode 1: Hello")
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    assert_fits_the_width(page)
