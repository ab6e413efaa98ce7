"""The console's publishing pages: shows, episodes and plans, over HTTP and in Chromium."""

import io
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from app import audio
from app.accounts.sessions import COOKIE, Sessions
from app.core.config import Settings
from app.main import create_app
from tests.browser import assert_fits_the_width, open_page
from tests.conftest import ADMIN_KEY, MP3, SHOW, Clock, create_show, subscribe, upload
from tests.media import chaptered_mp3, headerless_mp3, image
from tests.parsers import universal
from tests.test_feed_content import show_json

SCREENSHOT = Path(__file__).parent.parent / "docs" / "console-upload.png"
PASSWORD = "correct horse battery staple"
LONG_ARTICLE = "<p>And so it goes.</p>" * 5000


def make_staff(admin: TestClient | httpx.Client, email: str, role: str) -> dict[str, Any]:
    response = admin.post("/admin/users", json={"email": email, "password": PASSWORD, "role": role})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class Console:
    """A TestClient signed in to the console as one staff member, with their CSRF token."""

    def __init__(self, client: TestClient, user_id: int, clock: Clock) -> None:
        sessions: Sessions = client.app.state.sessions  # type: ignore[attr-defined]
        cookie = sessions.issue(user_id, clock())
        session = sessions.read(cookie, clock())
        assert session is not None
        self.csrf = session.csrf
        self.client = client
        client.cookies.set(COOKIE, cookie)

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path)

    def post(self, path: str, data: dict[str, Any] | None = None) -> httpx.Response:
        return self.client.post(
            path, data={"csrf": self.csrf} | (data or {}), follow_redirects=False
        )


def edited(plan: dict[str, Any]) -> dict[str, Any]:
    """What the console's plans page edits, of a plan the API answers."""
    return {key: plan[key] for key in ("id", "name", "shows")}


def console_as(client: TestClient, clock: Clock, role: str) -> Console:
    """A console session for a new staff member with `role`; the bootstrap key stays on
    the client's requests only where a test sends it explicitly."""
    user = make_staff(_bootstrap(client), f"{role}@example.com", role)
    client.headers.pop("Authorization", None)
    return Console(client, user["id"], clock)


def _bootstrap(client: TestClient) -> TestClient:
    client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    return client


ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def editor(client: TestClient, clock: Clock) -> Console:
    create_show(_bootstrap(client))
    return console_as(client, clock, "editor")


def test_show_metadata_saves_through_the_category_picker(editor: Console) -> None:
    page = editor.get("/console/shows/sharp-tech")
    assert page.status_code == 200
    assert '<option value="News/Tech News">News \u203a Tech News</option>' in page.text
    assert 'href="http://testserver/shows/sharp-tech/feed.xml"' in page.text
    form = {
        "title": "Sharp Tech, renamed",
        "description": "Tech, sharply.",
        "author": "Ben & Andrew",
        "owner_name": "Stratechery",
        "owner_email": "podcasts@example.com",
        "language": "en",
        "category": "News/Tech News",
        "link": "https://example.com/sharp-tech",
        "itunes_type": "serial",
        "feed_limit": "",
    }
    saved = editor.post("/console/shows/sharp-tech", form)
    assert saved.status_code == 303
    show = editor.client.get("/admin/shows/sharp-tech", headers=ADMIN).json()
    assert (show["title"], show["category"], show["subcategory"]) == (
        "Sharp Tech, renamed",
        "News",
        "Tech News",
    )
    assert show["itunes_type"] == "serial"
    assert editor.get("/console/shows/sharp-tech").text.count("Sharp Tech, renamed: saved.") == 1

    # A bare category clears the subcategory; a bad email is refused, on the page.
    editor.post("/console/shows/sharp-tech", form | {"category": "Technology"})
    show = editor.client.get("/admin/shows/sharp-tech", headers=ADMIN).json()
    assert (show["category"], show["subcategory"]) == ("Technology", None)
    refused = editor.post("/console/shows/sharp-tech", form | {"owner_email": "nobody"})
    assert refused.status_code == 422
    assert "owner email: must be an email address" in refused.text
    assert 'value="nobody"' in refused.text  # what was typed stays in the form


def test_a_form_without_its_csrf_token_changes_nothing(editor: Console) -> None:
    response = editor.client.post("/console/shows/sharp-tech", data={"title": "Hijacked"})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    show = editor.client.get("/admin/shows/sharp-tech", headers=ADMIN).json()
    assert show["title"] == "Sharp Tech"


def test_episode_page_shows_what_the_file_held(
    editor: Console, tmp_path: Path, clock: Clock
) -> None:
    cover = image(1400, color="#ff8800")
    mp3 = chaptered_mp3(tmp_path, [(0, "Cold open"), (1500, "The news")], cover=cover)
    episode = upload(_bootstrap(editor.client), "sharp-tech", mp3).json()
    editor.client.headers.pop("Authorization")
    page = editor.get(f"/console/episodes/{episode['id']}?uploaded=1")
    assert page.status_code == 200
    assert "Uploaded: check what was read from the file" in page.text
    assert '<dd id="duration">0:03</dd>' in page.text
    assert "Cold open" in page.text
    assert "The news" in page.text
    art = editor.get(f"/console/episodes/{episode['id']}/artwork.png")
    assert art.status_code == 200
    assert art.content == cover


def test_article_narration_and_schedule_in_the_publishers_time_zone(
    settings: Settings, clock: Clock
) -> None:
    london = settings.model_copy(update={"timezone": ZoneInfo("Europe/London")})
    with TestClient(create_app(london, clock)) as client:
        create_show(_bootstrap(client))
        episode = upload(client, "sharp-tech").json()
        editor = console_as(client, clock, "editor")
        path = f"/console/episodes/{episode['id']}"

        article = {
            "title": "Why aggregation wins",
            "kind": "article",
            "article_url": "https://example.com/aggregation",
            # An article runs longer than a subscriber page's forms (over 64 KB).
            "article_text": "<p>Aggregators <script>x()</script>win.</p>" + LONG_ARTICLE,
            "episode_type": "full",
        }
        assert editor.post(path, article).status_code == 303
        stored = client.get(f"/admin/episodes/{episode['id']}", headers=ADMIN).json()
        assert stored["kind"] == "article"
        assert stored["article_url"] == "https://example.com/aggregation"
        assert stored["article_text"] == "<p>Aggregators win.</p>" + LONG_ARTICLE

        # 09:00 on 1 July in London is 08:00 UTC (summer time), and the page says 09:00 back.
        assert editor.post(f"{path}/publish", {"published_at": "2030-07-01T09:00"}).is_redirect
        stored = client.get(f"/admin/episodes/{episode['id']}", headers=ADMIN).json()
        assert stored["status"] == "published"
        assert datetime.fromisoformat(stored["published_at"]) == datetime(
            2030, 7, 1, 8, 0, tzinfo=UTC
        )
        page = editor.get(path).text
        assert "Scheduled for Mon 01 Jul 2030, 09:00 BST" in page
        assert 'value="2030-07-01T09:00"' in page
        assert '<span class="status status-scheduled" id="state">scheduled</span>' in page

        # 01:30 on the last Sunday of March does not exist in London.
        gap = editor.post(f"{path}/publish", {"published_at": "2030-03-31T01:30"})
        assert gap.status_code == 422
        assert "does not exist in Europe/London" in gap.text

        assert editor.post(f"{path}/unpublish").is_redirect
        stored = client.get(f"/admin/episodes/{episode['id']}", headers=ADMIN).json()
        assert stored["status"] == "draft"


def test_plans_page_edits_bundles(client: TestClient, clock: Clock) -> None:
    admin = _bootstrap(client)
    create_show(admin)
    admin.post("/admin/shows", json=show_json("goat", "Greatest of All Talk"))
    support = console_as(client, clock, "support")
    bundle = {"plan_id": "bundle-2025", "name": "Bundle", "shows": ["sharp-tech", "goat"]}
    assert support.post("/console/plans", bundle).status_code == 303
    page = support.get("/console/plans").text
    assert "Plan Bundle (bundle-2025) gives: Sharp Tech, Greatest of All Talk." in page

    support.post("/console/plans", bundle | {"shows": ["goat"]})
    plans = client.get("/admin/plans", headers=ADMIN).json()
    assert [edited(plan) for plan in plans] == [
        {"id": "bundle-2025", "name": "Bundle", "shows": ["goat"]}
    ]

    refused = support.post("/console/plans", bundle | {"plan_id": "no spaces"})
    assert refused.status_code == 422
    assert "plan id: " in refused.text

    # Issue 24: "New plan" with an id in use replaced that plan (a bundle became one show).
    taken = support.post("/console/plans", bundle | {"new": "1", "name": "Solo", "shows": []})
    assert taken.status_code == 422
    assert "Bundle already has the id bundle-2025" in taken.text
    assert 'id="new-name" type="text" name="name" value="Solo"' in taken.text  # kept
    plans = client.get("/admin/plans", headers=ADMIN).json()
    assert [edited(plan) for plan in plans] == [
        {"id": "bundle-2025", "name": "Bundle", "shows": ["goat"]}
    ]

    assert support.post("/console/plans/bundle-2025/delete").is_redirect
    assert client.get("/admin/plans", headers=ADMIN).json() == []


SHOW_FORM = {
    "title": "Sharp Tech",
    "description": "Tech, sharply.",
    "author": "Ben Thompson",
    "owner_name": "Stratechery",
    "owner_email": "podcasts@example.com",
    "language": "en",
    "category": "Technology",
    "link": "https://example.com/sharp-tech",
    "itunes_type": "episodic",
}


def welcome_of(client: TestClient) -> httpx.Response:
    return client.get("/admin/shows/sharp-tech/welcome", headers=ADMIN)


def test_personal_title_and_welcome_item_save_through_the_show_page(editor: Console) -> None:
    editor.post("/console/shows/sharp-tech", SHOW_FORM | {"personal_title": "true"})
    show = editor.client.get("/admin/shows/sharp-tech", headers=ADMIN).json()
    assert show["personal_title"] is True
    page = editor.get("/console/shows/sharp-tech").text
    assert 'name="personal_title" value="true" checked' in page
    editor.post("/console/shows/sharp-tech", SHOW_FORM)  # the box left unticked
    show = editor.client.get("/admin/shows/sharp-tech", headers=ADMIN).json()
    assert show["personal_title"] is False

    page = editor.get("/console/shows/sharp-tech").text
    assert "off until you save it here" in page
    assert "Upload the recording" not in page  # the API wants the item first
    welcome = {"days": "14", "title": "Hello & welcome", "notes": "Your page: {subscriber_page}"}
    saved = editor.post("/console/shows/sharp-tech/welcome", welcome)
    assert saved.status_code == 303
    got = welcome_of(editor.client).json()
    assert (got["days"], got["title"], got["notes"]) == (
        14,
        "Hello & welcome",
        "<p>Your page: {subscriber_page}</p>",
    )
    page = editor.get("/console/shows/sharp-tech").text
    assert "Sharp Tech: welcome item saved (on for 14 days)." in page
    assert 'value="Hello &amp; welcome"' in page
    assert 'src="http://testserver/welcome.mp3"' in page  # the spoken default plays

    # 0 days switches it off and keeps the rest; empty title and notes mean the defaults.
    editor.post("/console/shows/sharp-tech/welcome", welcome | {"days": "0"})
    assert welcome_of(editor.client).json()["days"] == 0
    editor.post("/console/shows/sharp-tech/welcome", {"days": "30", "title": " ", "notes": ""})
    got = welcome_of(editor.client).json()
    assert (got["days"], got["title"], got["notes"]) == (30, None, None)
    refused = editor.post("/console/shows/sharp-tech/welcome", {"days": "-1", "title": "Typed"})
    assert refused.status_code == 422
    assert "days: must be 0 or more" in refused.text
    assert 'value="Typed"' in refused.text
    assert welcome_of(editor.client).json()["title"] is None


def test_welcome_recording_uploads_plays_and_goes_back_to_the_default(editor: Console) -> None:
    editor.post("/console/shows/sharp-tech/welcome", {"days": "30"})
    # As the page's script sends it: the admin API, the session cookie and the CSRF header.
    uploaded = editor.client.put(
        "/admin/shows/sharp-tech/welcome/audio",
        files={"audio": ("hello.mp3", MP3.read_bytes(), "audio/mpeg")},
        headers={"X-CSRF-Token": editor.csrf},
    )
    assert uploaded.status_code == 200, uploaded.text
    page = editor.get("/console/shows/sharp-tech?saved=welcome-audio").text
    assert "Welcome recording saved" in page
    player = re.search(r'<audio [^>]*src="([^"]+)"', page)
    assert player is not None
    assert player[1].startswith("http://testserver/shows/sharp-tech/welcome")
    assert editor.client.get(player[1]).content == MP3.read_bytes()

    assert editor.client.post("/console/shows/sharp-tech/welcome/audio/delete").status_code == 403
    assert welcome_of(editor.client).json()["audio_uploaded"] is True
    removed = editor.post("/console/shows/sharp-tech/welcome/audio/delete")
    assert removed.status_code == 303
    assert welcome_of(editor.client).json()["audio_uploaded"] is False
    page = editor.get("/console/shows/sharp-tech").text
    assert 'src="http://testserver/welcome.mp3"' in page
    assert "Remove the recording" not in page


def test_dynamic_item_forms_without_their_csrf_token_change_nothing(
    client: TestClient, clock: Clock
) -> None:
    create_show(_bootstrap(client))
    client.put("/admin/plans/basic", json={"name": "Basic", "shows": ["sharp-tech"]})
    editor = console_as(client, clock, "owner")
    forms: dict[str, dict[str, Any]] = {
        "/console/shows/sharp-tech": SHOW_FORM | {"personal_title": "true"},
        "/console/shows/sharp-tech/welcome": {"days": "7"},
        "/console/plans": {"plan_id": "basic", "name": "Basic", "shows": ["sharp-tech"]}
        | {"back_catalogue": "latest", "episodes": "3"},
    }
    for path, form in forms.items():
        assert editor.client.post(path, data=form).status_code == 403, path
    assert client.get("/admin/shows/sharp-tech", headers=ADMIN).json()["personal_title"] is False
    assert welcome_of(client).status_code == 404
    (plan,) = client.get("/admin/plans", headers=ADMIN).json()
    assert plan["back_catalogue"] == {"rule": "all"}


def test_plans_page_sets_each_plans_back_catalogue(client: TestClient, clock: Clock) -> None:
    create_show(_bootstrap(client))
    support = console_as(client, clock, "support")
    basic = {"plan_id": "basic", "name": "Basic", "shows": ["sharp-tech"]}

    def rule() -> dict[str, Any]:
        (plan,) = client.get("/admin/plans", headers=ADMIN).json()
        found: dict[str, Any] = plan["back_catalogue"]
        return found

    support.post("/console/plans", basic | {"back_catalogue": "latest", "episodes": "5"})
    assert rule() == {"rule": "latest", "episodes": 5}
    page = support.get("/console/plans").text
    assert 'value="latest" checked' in page
    assert 'name="episodes" value="5"' in page
    support.post("/console/plans", basic)  # a form without the rule keeps it
    assert rule() == {"rule": "latest", "episodes": 5}
    support.post(
        "/console/plans",
        basic | {"back_catalogue": "since_joining", "days_before": "7", "episodes": "5"},
    )
    assert rule() == {"rule": "since_joining", "days_before": 7}
    assert 'name="days_before" value="7"' in support.get("/console/plans").text

    refused = support.post("/console/plans", basic | {"back_catalogue": "latest"})
    assert refused.status_code == 422
    assert "back catalogue, episodes: is needed" in refused.text
    assert rule() == {"rule": "since_joining", "days_before": 7}
    # The trial: "Input should be less than or equal to 100000", as pydantic says it.
    too_many = support.post(
        "/console/plans", basic | {"back_catalogue": "latest", "episodes": "99999999999"}
    )
    assert too_many.status_code == 422
    assert "back catalogue, episodes: must be 100000 or less" in too_many.text
    too_long_ago = support.post(
        "/console/plans", basic | {"back_catalogue": "since_joining", "days_before": "-1"}
    )
    assert "back catalogue, days before: must be 0 or more" in too_long_ago.text
    assert rule() == {"rule": "since_joining", "days_before": 7}
    support.post("/console/plans", basic | {"back_catalogue": "all", "days_before": "7"})
    assert rule() == {"rule": "all"}


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("analyst", "/console/plans"),  # analysts and support read shows (test_console_analytics)
        ("support", "/console/accounts"),
        ("editor", "/console/plans"),
    ],
)
def test_roles_without_the_permission_get_a_403_page(
    client: TestClient, clock: Clock, role: str, path: str
) -> None:
    create_show(_bootstrap(client))
    response = console_as(client, clock, role).get(path)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert f"Your role ({role}) cannot open this page" in response.text


# In Chromium, against a live server.


def long_mp3(directory: Path, repeats: int = 400) -> Path:
    """The test MP3's frames over and over: about 5 MB and 20 minutes, so its upload takes
    long enough to report progress several times."""
    data = headerless_mp3()
    first = audio.probe(io.BytesIO(data), len(data), "short.mp3").audio_offset
    path = directory / "long.mp3"
    path.write_bytes(data[:first] + data[first:] * repeats)
    return path


def log_in(browser: Browser, base: str, email: str, next_path: str) -> Page:
    page = open_page(browser, f"{base}{next_path}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in to the console")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}{next_path}")
    return page


@pytest.fixture
def live_show(live: tuple[str, httpx.Client]) -> tuple[str, httpx.Client]:
    _, admin = live
    assert admin.post("/admin/shows", json=SHOW).status_code == 201
    return live


def watch_progress(page: Page) -> list[int]:
    """Every value the upload's progress bar takes, as the page sets it."""
    seen: list[int] = []
    page.expose_function("reportProgress", lambda value: seen.append(int(value)))
    page.add_init_script(
        """document.addEventListener("DOMContentLoaded", () => {
             const bar = document.getElementById("upload-progress");
             if (bar) new MutationObserver(() => window.reportProgress(bar.value))
               .observe(bar, {attributes: true, attributeFilter: ["value"]});
           });"""
    )
    return seen


def test_an_editor_uploads_confirms_and_publishes(
    browser: Browser, live_show: tuple[str, httpx.Client], tmp_path: Path
) -> None:
    base, admin = live_show
    owner = make_staff(admin, "owner@example.com", "owner")
    owner_page = log_in(browser, base, owner["email"], "/console/accounts")
    owner_page.get_by_label("Email").fill("editor@example.com")
    owner_page.get_by_label("Role", exact=True).select_option("editor")
    owner_page.get_by_label("Initial password").fill(PASSWORD)
    owner_page.get_by_role("button", name="Create the account").click()
    expect(owner_page.get_by_role("status")).to_contain_text("editor@example.com")
    subscriber = subscribe(admin, "listener@example.com", "sharp-tech")  # type: ignore[arg-type]

    page = log_in(browser, base, "editor@example.com", "/console/shows/sharp-tech/episodes")
    progress = watch_progress(page)
    page.reload()
    # Slow the upload down (2 MB/s) so its progress shows in steps, as over a real network.
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    network.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": 2 * 1024 * 1024,
        },
    )
    assert_fits_the_width(page)
    page.get_by_label("Drop an MP3 or M4A here, or choose one").set_input_files(long_mp3(tmp_path))
    if os.environ.get("PODPASS_SCREENSHOT"):  # the upload page, part way through
        page.wait_for_function("document.getElementById('upload-progress').value >= 40")
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    expect(page.get_by_role("heading", level=2).first).to_have_text(
        "Uploaded: check what was read from the file", timeout=30_000
    )
    assert progress[-1] == 100, progress
    assert len(set(progress)) >= 4, progress
    assert progress == sorted(progress), progress
    print("progress bar values:", progress)

    # The editor checks what the file held, names the episode and publishes it.
    expect(page.locator("#duration")).to_have_text("20:43")
    expect(page.locator("#state")).to_have_text("draft")
    assert_fits_the_width(page)
    page.get_by_label("Title", exact=True).fill("Episode 1: Hello")
    page.get_by_role("button", name="Save").click()
    flash = page.get_by_role("status").first  # the layout's message after a form post
    expect(flash).to_have_text("Episode 1: Hello: saved.")
    page.get_by_role("button", name="Publish").click()
    expect(flash).to_contain_text("Episode 1: Hello: Published")
    expect(page.locator("#state")).to_have_text("published")

    page.get_by_role("link", name="Sharp Tech: episodes").click()
    row = page.get_by_role("row").filter(has_text="Episode 1: Hello")
    expect(row.get_by_text("published", exact=True)).to_be_visible()
    expect(row).to_contain_text("20:43")
    assert_fits_the_width(page)

    feed = universal(httpx.get(subscriber["feeds"][0]["feed_url"]).content)
    assert [entry.title for entry in feed.entries] == ["Episode 1: Hello"]
    assert feed.entries[0].enclosures[0].length == str(
        next(tmp_path.glob("long.mp3")).stat().st_size
    )

    # Issue 24: Unpublish acted on one click; it asks first, saying what it does.
    row.get_by_role("link", name="Episode 1: Hello").click()
    unpublish = page.get_by_role("button", name="Unpublish Episode 1: Hello")
    expect(unpublish).to_be_hidden()
    page.get_by_text("Unpublish…").click()
    expect(page.get_by_text("It leaves every feed at the next poll")).to_be_visible()
    unpublish.click()
    expect(page.locator("#state")).to_have_text("draft")
    assert universal(httpx.get(subscriber["feeds"][0]["feed_url"]).content).entries == []


def test_show_artwork_preview_and_size_check(
    browser: Browser, live_show: tuple[str, httpx.Client], tmp_path: Path
) -> None:
    base, admin = live_show
    make_staff(admin, "editor@example.com", "editor")
    page = log_in(browser, base, "editor@example.com", "/console/shows/sharp-tech")
    small, good = tmp_path / "small.png", tmp_path / "good.png"
    small.write_bytes(image(1000))
    good.write_bytes(image(1400, color="#0b5394"))

    field = page.get_by_label("New artwork (JPEG or PNG, square, 1400 to 3000 px)")
    field.set_input_files(small)
    expect(page.locator("#artwork-note")).to_have_text(
        "1000 \u00d7 1000 px: does not fit Apple's rule (square, 1400 to 3000 px)."
    )
    page.get_by_role("button", name="Upload artwork").click()
    expect(page.get_by_role("status").last).to_contain_text(
        "Not saved: small.png is 1000x1000 px; podcast artwork must be square"
    )
    field.set_input_files(good)
    expect(page.locator("#artwork-note")).to_contain_text("fits Apple's rule")
    page.get_by_role("button", name="Upload artwork").click()
    expect(page.get_by_role("status").first).to_contain_text("New artwork saved")
    artwork = page.get_by_role("img", name="The current artwork of Sharp Tech")
    assert httpx.get(artwork.get_attribute("src") or "").content == good.read_bytes()
    assert_fits_the_width(page)


def test_an_analyst_reads_the_episodes_page_without_its_upload_form(
    browser: Browser, live_show: tuple[str, httpx.Client]
) -> None:
    """Analysts read shows and episodes (issue 24); the forms are an editor's."""
    base, admin = live_show
    make_staff(admin, "analyst@example.com", "analyst")
    page = log_in(browser, base, "analyst@example.com", "/console/")
    response = page.goto(f"{base}/console/shows/sharp-tech/episodes")
    assert response is not None
    assert response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Sharp Tech: episodes")
    expect(page.get_by_role("heading", name="Upload an episode")).to_have_count(0)
    expect(page.locator("input[type=file]")).to_have_count(0)


def test_an_episode_dropped_on_the_page_uploads(
    browser: Browser, live_show: tuple[str, httpx.Client], tmp_path: Path
) -> None:
    base, admin = live_show
    make_staff(admin, "editor@example.com", "editor")
    page = log_in(browser, base, "editor@example.com", "/console/shows/sharp-tech/episodes")
    page.get_by_label("Title (empty: the file's own title tag)").fill("Dropped in")
    dropped = page.evaluate_handle(
        """(bytes) => {
             const files = new DataTransfer();
             files.items.add(new File([new Uint8Array(bytes)], "drop.mp3", {type: "audio/mpeg"}));
             return files;
           }""",
        list(MP3.read_bytes()),
    )
    page.locator(".dropzone").dispatch_event("drop", {"dataTransfer": dropped})
    expect(page.get_by_role("heading", level=1)).to_have_text("Dropped in")
    expect(page.locator("#duration")).to_have_text("0:03")

    # Chapters and a transcript, sent to the admin API by the page's script. The trial: a
    # file that is not JSON said "Not saved: 0: JSON decode error".
    page.get_by_label("Chapters (Podcasting 2.0 JSON").set_input_files(MP3)
    page.get_by_role("button", name="Upload chapters").click()
    expect(page.locator("form:has(#chapters-file) .api-status")).to_have_text(
        "Not saved: episode.mp3 is not a JSON file; chapters are Podcasting 2.0 JSON."
    )
    chapters = tmp_path / "chapters.json"
    chapters.write_text(
        '{"version": "1.2.0", "chapters": [{"startTime": 0, "title": "Hello"},'
        ' {"startTime": 2.5, "title": "Goodbye"}]}'
    )
    page.get_by_label("Chapters (Podcasting 2.0 JSON").set_input_files(chapters)
    page.get_by_role("button", name="Upload chapters").click()
    expect(page.get_by_role("status").first).to_have_text("Chapters saved.")
    expect(page.locator("ol.chapters li")).to_have_text(["0:00 Hello", "0:02 Goodbye"])
    transcript = tmp_path / "transcript.vtt"
    transcript.write_text("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nHello there.\n")
    page.get_by_label("Transcript (.vtt, .srt or .txt)").set_input_files(transcript)
    page.get_by_role("button", name="Upload transcript").click()
    expect(page.get_by_role("status").first).to_have_text("Transcript saved.")
    expect(page.get_by_text("text/vtt")).to_be_visible()
    assert_fits_the_width(page)


def test_support_edits_a_bundle_in_the_browser(
    browser: Browser, live_show: tuple[str, httpx.Client]
) -> None:
    base, admin = live_show
    admin.post("/admin/shows", json=show_json("goat", "Greatest of All Talk"))
    make_staff(admin, "support@example.com", "support")
    page = log_in(browser, base, "support@example.com", "/console/plans")
    new = page.get_by_role("region", name="New plan")
    new.get_by_label("Plan id").fill("bundle")
    new.get_by_label("Name", exact=True).fill("Everything")
    new.get_by_label("Sharp Tech").check()
    new.get_by_label("Greatest of All Talk").check()
    new.get_by_role("button", name="Add the plan").click()
    expect(page.get_by_role("status")).to_have_text(
        "Plan Everything (bundle) gives: Sharp Tech, Greatest of All Talk."
    )
    plan = page.locator('section[data-plan="bundle"]')
    plan.get_by_label("Sharp Tech").uncheck()
    plan.get_by_role("button", name="Save Everything").click()
    expect(page.get_by_role("status")).to_have_text(
        "Plan Everything (bundle) gives: Greatest of All Talk."
    )
    assert [edited(plan) for plan in admin.get("/admin/plans").json()] == [
        {"id": "bundle", "name": "Everything", "shows": ["goat"]}
    ]
    assert_fits_the_width(page)

    # Issue 24: Delete acted on one click; it asks first.
    delete = plan.get_by_role("button", name="Delete Everything")
    expect(delete).to_be_hidden()
    plan.get_by_text("Delete Everything…").click()
    delete.click()
    expect(page.get_by_role("status")).to_have_text("Plan bundle deleted.")
    assert admin.get("/admin/plans").json() == []


def test_an_editor_records_a_welcome_in_the_browser(
    browser: Browser, live_show: tuple[str, httpx.Client]
) -> None:
    base, admin = live_show
    make_staff(admin, "editor@example.com", "editor")
    page = log_in(browser, base, "editor@example.com", "/console/shows/sharp-tech")
    page.get_by_label("Days after a subscriber joins (0: off)").fill("10")
    page.get_by_role("button", name="Save the welcome item").click()
    expect(page.get_by_role("status").first).to_have_text(
        "Sharp Tech: welcome item saved (on for 10 days)."
    )
    page.get_by_label("New recording (MP3 or M4A)").set_input_files(MP3)
    page.get_by_role("button", name="Upload the recording").click()
    expect(page.get_by_role("status").first).to_contain_text("Welcome recording saved")
    player = page.get_by_label("The welcome item's audio")
    assert httpx.get(player.get_attribute("src") or "").content == MP3.read_bytes()
    assert admin.get("/admin/shows/sharp-tech/welcome").json()["audio_uploaded"] is True
    assert_fits_the_width(page)


def uploaded(client: TestClient) -> dict[str, Any]:
    """An episode uploaded with the admin key, which the console's own requests do not send."""
    body: dict[str, Any] = upload(_bootstrap(client), "sharp-tech").json()
    client.headers.pop("Authorization")
    return body


def test_an_emptied_field_clears_it_and_a_blank_title_is_refused(
    client: TestClient, editor: Console
) -> None:
    """Issue 24: clearing season, number or show notes said "saved." and kept them."""
    episode = uploaded(client)
    path, api = f"/console/episodes/{episode['id']}", f"/admin/episodes/{episode['id']}"
    details = {"season": 2, "number": 5, "show_notes": "<p>Notes</p>"}
    assert client.patch(api, json=details, headers=ADMIN).status_code == 200
    form = {"title": "Hello", "kind": "episode", "episode_type": "full"}
    cleared = editor.post(path, form | {"season": "", "number": "", "show_notes": ""})
    assert cleared.status_code == 303
    stored = client.get(api, headers=ADMIN).json()
    assert (stored["season"], stored["number"], stored["show_notes"]) == (None, None, "")

    blank = editor.post(path, form | {"title": "   ", "season": "3"})
    assert blank.status_code == 422
    assert "an episode needs a title" in blank.text
    assert 'value="3"' in blank.text  # what was typed stays on the form
    stored = client.get(api, headers=ADMIN).json()
    assert (stored["title"], stored["season"]) == ("Hello", None)

    # The API clears with null as the console does with an empty field.
    assert client.patch(api, json={"season": 4}, headers=ADMIN).json()["season"] == 4
    assert client.patch(api, json={"season": None}, headers=ADMIN).json()["season"] is None


@pytest.mark.parametrize("year", ["0001", "1899", "9999"])
def test_a_publication_date_with_a_mistyped_year_is_refused(
    client: TestClient, editor: Console, year: str
) -> None:
    """Issue 24: year 1 wrote `<pubDate>Mon, 01 Jan 1 …` into subscriber feeds."""
    episode = uploaded(client)
    refused = editor.post(
        f"/console/episodes/{episode['id']}/publish", {"published_at": f"{year}-06-01T09:00"}
    )
    assert refused.status_code == 422
    assert "Check the year." in refused.text
    by_api = client.post(
        f"/admin/episodes/{episode['id']}/publish",
        json={"published_at": f"{year}-06-01T09:00:00Z"},
        headers=ADMIN,
    )
    assert by_api.status_code == 422
    assert "Check the year." in by_api.json()["detail"]
    assert client.get(f"/admin/episodes/{episode['id']}", headers=ADMIN).json()["status"] == "draft"


def test_show_form_problems_stay_on_the_form_in_a_persons_words(
    client: TestClient, editor: Console
) -> None:
    """Issue 24: a field left out went to an error page that lost every edit, and a number
    too big said "Input should be less than or equal to …"."""
    path = "/console/shows/sharp-tech"
    edited_form = SHOW_FORM | {"title": "Sharp Tech, edited", "feed_limit": "99999999999"}
    too_big = editor.post(path, edited_form)
    assert too_big.status_code == 422
    assert "feed limit: must be 100000 or less" in too_big.text
    assert "Input should be" not in too_big.text
    assert 'value="Sharp Tech, edited"' in too_big.text  # the edit is kept

    left_out = {name: value for name, value in SHOW_FORM.items() if name != "title"}
    refused = editor.post(path, left_out)
    assert refused.status_code == 422
    assert "title: must not be empty" in refused.text
    assert "Nothing was saved" in refused.text
    assert 'value="Sharp Tech"' not in refused.text  # the form as posted, with no title

    # An emptied website is the show's public page, as for a show made without one.
    assert editor.post(path, SHOW_FORM | {"link": ""}).status_code == 303
    shown = client.get("/admin/shows/sharp-tech", headers=ADMIN).json()
    assert shown["link"] == "http://testserver/shows/sharp-tech"


def test_a_refused_upload_empties_the_bar_and_an_ended_session_says_log_in(
    browser: Browser, live_show: tuple[str, httpx.Client], tmp_path: Path
) -> None:
    """Issue 24: the bar stayed full after a rejected file, and an upload after the session
    ended said "Send an API key as `Authorization: Bearer <key>`"."""
    base, admin = live_show
    make_staff(admin, "editor@example.com", "editor")
    page = log_in(browser, base, "editor@example.com", "/console/shows/sharp-tech/episodes")
    notes = tmp_path / "notes.mp3"
    notes.write_text("These are my show notes, not audio.")
    chooser = page.get_by_label("Drop an MP3 or M4A here, or choose one")
    chooser.set_input_files(notes)
    status = page.locator("#upload-status")
    expect(status).to_contain_text("Not uploaded:")
    expect(page.locator("#upload-progress")).to_have_js_property("value", 0)

    page.context.clear_cookies()  # as when the session's cookie has expired
    chooser.set_input_files(MP3)
    expect(status).to_contain_text("Your console session has ended, so nothing was saved.")
    status.get_by_role("link", name="Log in again").click()
    page.get_by_label("Email").fill("editor@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/console/shows/sharp-tech/episodes")
    assert admin.get("/admin/shows/sharp-tech/episodes").json() == []


def test_an_empty_owner_a_mistyped_email_and_language_are_said_in_a_persons_words(
    client: TestClient, editor: Console
) -> None:
    """The trial: "Value should have at least 1 item after validation, not 0", "String
    should match pattern '^[a-z]{2,3}…'" and "value is not a valid email address" showed on
    the show form as pydantic says them."""
    path = "/console/shows/sharp-tech"
    form = SHOW_FORM | {"owner_name": "", "owner_email": "nobody", "language": "english"}
    refused = editor.post(path, form)
    assert refused.status_code == 422
    assert "owner name: must not be empty" in refused.text
    assert "owner email: must be an email address: An email address must have an @-sign." in (
        refused.text
    )
    assert "language: is not in the form shown beside it" in refused.text
    for pydantic_words in ("Value should", "String should", "value is not a valid"):
        assert pydantic_words not in refused.text
    assert 'value="english"' in refused.text
    shown = client.get("/admin/shows/sharp-tech", headers=ADMIN).json()
    assert shown["language"] == "en"


def test_a_title_without_spaces_wraps_on_a_phone(
    browser: Browser, live: tuple[str, httpx.Client]
) -> None:
    """The trial: a show titled with one long word (a pasted URL, a product code) pushed the
    dashboard 4,000 px past a phone's edge, where its link sits in a sentence."""
    base, admin = live
    long_word = "Sharp" + "Tech" * 60
    assert admin.post("/admin/shows", json=SHOW | {"title": long_word}).status_code == 201
    make_staff(admin, "owner@example.com", "owner")
    page = log_in(browser, base, "owner@example.com", "/console/")
    expect(page.get_by_role("link", name=f"Analytics of {long_word}")).to_be_visible()
    # The chart's legend names the show whole (charts.py), clipped by the chart's own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto(f"{base}/console/shows")
    assert_fits_the_width(page)
