"""The console's catalogue tasks: delete an episode, replace its audio, hear it, find it in
a long list, and create a show; each checked where it shows outside the console (the
subscriber feed, the admin API, the public page)."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from app.accounts.sessions import COOKIE
from app.core.config import Settings
from app.core.tokens import SignedValues
from app.main import create_app
from tests.browser import assert_fits_the_width
from tests.conftest import (
    M4A,
    MP3,
    SECRET_KEY,
    Clock,
    create_show,
    feed_path,
    refused_writes,
    stored_files,
    subscribe,
    upload,
)
from tests.media import chaptered_mp3, image
from tests.parsers import gpodder, universal
from tests.test_console import log_in as log_in_as
from tests.test_console_publishing import (
    ADMIN,
    PASSWORD,
    Console,
    console_as,
    log_in,
    make_staff,
)


@contextmanager
def bootstrap_key(client: TestClient) -> Iterator[TestClient]:
    """The client sends the bootstrap key meanwhile (its console session, if any, too)."""
    client.headers.update(ADMIN)
    try:
        yield client
    finally:
        del client.headers["Authorization"]


@pytest.fixture
def editor(client: TestClient, clock: Clock) -> Console:
    with bootstrap_key(client):
        create_show(client)
    return console_as(client, clock, "editor")


def subscribed(console: Console) -> dict[str, Any]:
    with bootstrap_key(console.client):
        return subscribe(console.client, "jane@example.com", "sharp-tech")


def api_upload(console: Console, title: str, path: Path = MP3) -> dict[str, Any]:
    """As the episodes page's script sends it: the session cookie and the CSRF header."""
    response = console.client.post(
        "/admin/shows/sharp-tech/episodes",
        data={"title": title},
        files={"audio": (path.name, path.read_bytes(), "application/octet-stream")},
        headers={"X-CSRF-Token": console.csrf},
    )
    assert response.status_code == 201, response.text
    episode: dict[str, Any] = response.json()
    return episode


def published(console: Console, title: str, path: Path = MP3) -> dict[str, Any]:
    episode = api_upload(console, title, path)
    assert console.post(f"/console/episodes/{episode['id']}/publish").status_code == 303
    return episode


def feed_items(client: TestClient, subscriber: dict[str, Any]) -> list[dict[str, Any]]:
    """The subscriber's feed as gPodder reads it (and feedparser agrees on the GUIDs)."""
    body = client.get(feed_path(subscriber, "sharp-tech")).content
    items: list[dict[str, Any]] = gpodder(body)["episodes"]
    assert [e["guid"] for e in items] == [e.id for e in universal(body).entries]
    return items


def test_deleting_an_episode_asks_first_and_takes_it_out_of_the_feed(
    editor: Console, settings: Settings
) -> None:
    kept, doomed = published(editor, "Kept"), published(editor, "Doomed")
    subscriber = subscribed(editor)
    assert {e["title"] for e in feed_items(editor.client, subscriber)} == {"Kept", "Doomed"}
    files_before = stored_files(settings)

    page = editor.get(f"/console/episodes/{doomed['id']}")
    assert re.search(r"<details>\s*<summary>Delete this episode…</summary>", page.text)
    deleted = editor.post(f"/console/episodes/{doomed['id']}/delete")
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/console/shows/sharp-tech/episodes"
    listing = editor.get("/console/shows/sharp-tech/episodes").text
    assert "Doomed: deleted, with its audio." in listing

    items = feed_items(editor.client, subscriber)
    assert [(e["title"], e["guid"]) for e in items] == [("Kept", kept["guid"])]
    assert editor.client.get(f"/admin/episodes/{doomed['id']}", headers=ADMIN).status_code == 404
    assert len(stored_files(settings)) == len(files_before) - 1  # its audio is gone


def test_replacing_the_audio_keeps_the_guid_and_changes_the_enclosure(
    editor: Console, settings: Settings, tmp_path: Path
) -> None:
    episode = published(editor, "Corrected later")
    subscriber = subscribed(editor)
    [before] = feed_items(editor.client, subscriber)
    old_file = editor.client.get(before["enclosures"][0]["url"]).content
    assert old_file == MP3.read_bytes()

    fixed = chaptered_mp3(tmp_path, [(0, "Intro"), (1000, "The fix")])
    page = editor.get(f"/console/episodes/{episode['id']}").text
    assert 'action="/admin/episodes/{}/audio"'.format(episode["id"]) in page
    replaced = editor.client.put(
        f"/admin/episodes/{episode['id']}/audio",
        files={"audio": ("fixed.mp3", fixed.read_bytes(), "audio/mpeg")},
        headers={"X-CSRF-Token": editor.csrf},
    )
    assert replaced.status_code == 200, replaced.text

    [after] = feed_items(editor.client, subscriber)
    assert after["guid"] == before["guid"] == episode["guid"]
    new_url = after["enclosures"][0]["url"]
    assert new_url != before["enclosures"][0]["url"]
    assert new_url.endswith(f"/{episode['id']}.mp3?v=2")
    assert after["enclosures"][0]["file_size"] == fixed.stat().st_size
    assert editor.client.get(new_url).content == fixed.read_bytes()
    # The old file is gone from storage, and the chapters are the new file's.
    stored = [path.read_bytes() for path in stored_files(settings)]
    assert old_file not in stored
    assert fixed.read_bytes() in stored
    chapters = editor.client.get(f"/admin/episodes/{episode['id']}", headers=ADMIN).json()
    assert [c["title"] for c in chapters["chapters"]["chapters"]] == ["Intro", "The fix"]
    # The page says so, and its player asks for the new file (not the browser's copy).
    assert "New audio saved" in editor.get(f"/console/episodes/{episode['id']}?saved=audio").text


def test_a_refused_replacement_keeps_the_old_audio_and_stores_nothing(
    editor: Console, settings: Settings
) -> None:
    episode = published(editor, "Stays as it was")
    files_before = stored_files(settings)
    refused = editor.client.put(
        f"/admin/episodes/{episode['id']}/audio",
        files={"audio": ("notes.mp3", b"not audio at all" * 100, "audio/mpeg")},
        headers={"X-CSRF-Token": editor.csrf},
    )
    assert refused.status_code in (415, 422), refused.text
    assert stored_files(settings) == files_before
    again = editor.client.get(f"/admin/episodes/{episode['id']}", headers=ADMIN).json()
    assert again["audio_size"] == MP3.stat().st_size


def test_a_replacement_whose_commit_fails_leaves_no_orphan(
    editor: Console, settings: Settings
) -> None:
    episode = published(editor, "Commit fails")
    files_before = stored_files(settings)
    with refused_writes(settings.database_url, "episodes", on="UPDATE"):
        failed = editor.client.put(
            f"/admin/episodes/{episode['id']}/audio",
            files={"audio": ("m.m4a", M4A.read_bytes(), "audio/mp4")},
            headers={"X-CSRF-Token": editor.csrf},
        )
    assert failed.status_code == 500
    assert stored_files(settings) == files_before  # the new file went, the old one stayed
    listened = editor.get(f"/console/episodes/{episode['id']}/audio.mp3")
    assert listened.content == MP3.read_bytes()


def test_the_player_plays_a_draft_to_staff_without_a_token(editor: Console) -> None:
    episode = api_upload(editor, "A draft to hear")
    page = editor.get(f"/console/episodes/{episode['id']}").text
    src = re.search(r'<audio id="player"[^>]* src="([^"]+)"', page)
    assert src is not None
    assert src[1] == f"/console/episodes/{episode['id']}/audio.mp3?v=1"
    heard = editor.client.get(src[1], headers={"Range": "bytes=0-1"})
    assert heard.status_code == 206
    assert heard.content == MP3.read_bytes()[:2]
    assert editor.client.get(src[1].replace(".mp3", ".m4a")).status_code == 404
    # Not for a visitor: the login page.
    editor.client.cookies.clear()
    visitor = editor.client.get(src[1], follow_redirects=False)
    assert visitor.status_code == 303
    assert "/console/login" in visitor.headers["location"]


def test_the_episode_list_searches_filters_and_pages(editor: Console, clock: Clock) -> None:
    ids = {}
    for n in range(53):
        ids[n] = api_upload(editor, f"Daily Update {n:02}")["id"]
    article = api_upload(editor, "Read aloud: the essay")["id"]
    editor.client.patch(
        f"/admin/episodes/{article}",
        json={"kind": "article", "article_url": "https://example.com/essay"},
        headers=ADMIN,
    )
    editor.post(f"/console/episodes/{ids[1]}/publish")
    next_month = (clock() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    scheduled = editor.post(f"/console/episodes/{ids[2]}/publish", {"published_at": next_month})
    assert scheduled.status_code == 303

    def titles(query: str) -> list[str]:
        page = editor.get(f"/console/shows/sharp-tech/episodes{query}")
        assert page.status_code == 200, page.text
        return re.findall(r'<a href="/console/episodes/\d+">([^<]+)</a>', page.text)

    # Drafts first, newest first; then by date, the scheduled one before the other.
    drafts = [f"Daily Update {n:02}" for n in (9, 8, 7, 6, 5, 4, 3, 0)]
    assert titles("?q=update+0") == [*drafts, "Daily Update 02", "Daily Update 01"]
    assert titles("?q=UPDATE 01") == ["Daily Update 01"]
    assert titles("?state=published") == ["Daily Update 01"]
    assert titles("?state=scheduled") == ["Daily Update 02"]
    assert titles("?kind=article") == ["Read aloud: the essay"]
    assert titles("?q=%25") == []  # a % is a character, not a wildcard
    first = editor.get("/console/shows/sharp-tech/episodes?q=daily").text
    assert len(titles("?q=daily")) == 50
    assert 'rel="next"' in first
    later = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert later is not None
    second = titles(later[1].replace("&amp;", "&"))
    assert len(second) == 3
    assert (
        "No episode matches this search."
        in editor.get("/console/shows/sharp-tech/episodes?q=nothing").text
    )


NEW_SHOW = {
    "title": "Dithering",
    "slug": "dithering",
    "description": "Two people, fifteen minutes.",
    "author": "Ben & John",
    "owner_name": "Dithering",
    "owner_email": "dithering@example.com",
    "language": "en",
    "category": "News/Tech News",
    "explicit": "true",
}


def test_creating_a_show_keeps_the_form_on_a_problem_then_shows_its_links(
    client: TestClient, clock: Clock
) -> None:
    with bootstrap_key(client):
        create_show(client)
    editor = console_as(client, clock, "editor")
    form = NEW_SHOW | {"slug": "sharp-tech"}  # taken
    taken = editor.post("/console/shows", form)
    assert taken.status_code == 409
    assert "A show with slug &#39;sharp-tech&#39; already exists." in taken.text
    assert 'value="Two people, fifteen minutes."' in taken.text or (
        ">Two people, fifteen minutes.</textarea>" in taken.text
    )
    assert 'value="Ben &amp; John"' in taken.text
    assert '<option value="News/Tech News" selected>' in taken.text
    bad = editor.post("/console/shows", form | {"slug": "Dithering!", "owner_email": "nope"})
    assert bad.status_code == 422
    assert "slug: use lower-case letters, digits and dashes" in bad.text
    assert "owner email: must be an email address" in bad.text  # in the same pass
    assert 'value="Dithering!"' in bad.text
    empty = editor.post("/console/shows", dict.fromkeys(NEW_SHOW, ""))
    assert empty.status_code == 422
    for field in ("slug", "title", "author", "owner name", "owner email"):
        assert f"<li>{field}: " in empty.text, field

    made = editor.post("/console/shows", form | {"slug": "dithering"})
    assert made.status_code == 303
    assert made.headers["location"] == "/console/shows/dithering#artwork"
    page = editor.get("/console/shows/dithering").text
    assert "Dithering is created" in page
    assert 'value="http://testserver/shows/dithering"' in page
    assert 'value="http://testserver/shows/dithering/feed.xml"' in page

    show = client.get("/admin/shows/dithering", headers=ADMIN).json()
    assert (show["title"], show["category"], show["subcategory"], show["explicit"]) == (
        "Dithering",
        "News",
        "Tech News",
        True,
    )
    assert show["link"] == "http://testserver/shows/dithering"
    public = client.get("/shows/dithering")
    assert public.status_code == 200
    assert "Dithering" in public.text
    feed = universal(client.get("/shows/dithering/feed.xml").content)
    assert feed.feed.title == "Dithering"


# In Chromium, against a live server: at a phone's width and a desktop's.


def test_a_new_show_from_the_console_on_a_phone(
    browser: Browser, live: tuple[str, httpx.Client], tmp_path: Path
) -> None:
    base, admin = live
    make_staff(admin, "editor@example.com", "editor")
    page = log_in(browser, base, "editor@example.com", "/console/shows")
    expect(page.get_by_text("No shows yet: create the first one below.")).to_be_visible()
    page.get_by_label("Title").fill("Dithering")
    page.get_by_label("Slug", exact=False).fill("dithering")
    page.get_by_label("Description").fill("Two people, fifteen minutes.")
    page.get_by_label("Apple Podcasts category").select_option("News/Tech News")
    page.get_by_label("Author").fill("Ben & John")
    page.get_by_label("Owner's name").fill("Dithering")
    page.get_by_label("Owner's email").fill("dithering@example.com")
    assert_fits_the_width(page)
    page.get_by_role("button", name="Create the show").click()
    expect(page.get_by_role("status").first).to_contain_text("Dithering is created")
    expect(page.get_by_label("Public page", exact=True)).to_have_value(f"{base}/shows/dithering")
    expect(page.get_by_label("Public feed", exact=True)).to_have_value(
        f"{base}/shows/dithering/feed.xml"
    )
    assert_fits_the_width(page)

    # Its artwork, by the show page's uploader: a wrong file is refused beside it.
    wrong, good = tmp_path / "wrong.png", tmp_path / "good.png"
    wrong.write_bytes(image(1000))
    good.write_bytes(image(1400, color="#0b5394"))
    field = page.get_by_label("New artwork (JPEG or PNG, square, 1400 to 3000 px)")
    field.set_input_files(wrong)
    page.get_by_role("button", name="Upload artwork").click()
    expect(page.get_by_role("status").last).to_contain_text("Not saved: wrong.png is 1000x1000")
    field.set_input_files(good)
    page.get_by_role("button", name="Upload artwork").click()
    expect(page.get_by_role("status").first).to_contain_text("New artwork saved")

    show = admin.get("/admin/shows/dithering").json()
    assert (show["category"], show["subcategory"], show["author"]) == (
        "News",
        "Tech News",
        "Ben & John",
    )
    assert httpx.get(f"{base}/shows/dithering").status_code == 200
    artwork = universal(httpx.get(f"{base}/shows/dithering/feed.xml").content).feed.image.href
    assert httpx.get(artwork).content == good.read_bytes()


def test_an_episode_is_heard_replaced_and_deleted_on_a_phone(
    browser: Browser, live: tuple[str, httpx.Client], tmp_path: Path
) -> None:
    base, admin = live
    create_show(admin)
    make_staff(admin, "editor@example.com", "editor")
    episode = upload(admin, "sharp-tech", title="Take one", publish=True).json()
    subscriber = admin.post(
        "/admin/subscribers", json={"email": "jane@example.com", "shows": ["sharp-tech"]}
    ).json()
    feed_url = subscriber["feeds"][0]["feed_url"]
    page = log_in(browser, base, "editor@example.com", f"/console/episodes/{episode['id']}")

    player = page.locator("audio#player")
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    assert player.evaluate("a => Math.round(a.duration)") == round(episode["duration_seconds"])
    assert_fits_the_width(page)

    fixed = chaptered_mp3(tmp_path, [(0, "Take two")])
    page.get_by_label("Replace the audio", exact=False).set_input_files(fixed)
    page.get_by_role("button", name="Upload the new audio").click()
    expect(page.get_by_role("status").first).to_contain_text("New audio saved")
    expect(player).to_have_attribute("src", f"/console/episodes/{episode['id']}/audio.mp3?v=2")
    [item] = universal(httpx.get(feed_url).content).entries
    assert item.id == episode["guid"]
    assert item.enclosures[0].href.endswith("?v=2")
    assert httpx.get(item.enclosures[0].href).content == fixed.read_bytes()

    delete = page.get_by_role("button", name="Delete Take one")
    expect(delete).to_be_hidden()
    page.get_by_text("Delete this episode…").click()
    delete.click()
    expect(page.get_by_role("status").first).to_contain_text("Take one: deleted")
    assert page.url == f"{base}/console/shows/sharp-tech/episodes"
    assert universal(httpx.get(feed_url).content).entries == []
    assert_fits_the_width(page)


def test_the_episode_search_at_desktop_width(
    browser: Browser, live: tuple[str, httpx.Client]
) -> None:
    base, admin = live
    create_show(admin)
    make_staff(admin, "editor@example.com", "editor")
    for title in ("Monday Update", "Tuesday Update", "An interview"):
        upload(admin, "sharp-tech", title=title)
    page = log_in(browser, base, "editor@example.com", "/console/shows/sharp-tech/episodes")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_label("Title contains").fill("update")
    page.get_by_label("State").select_option("draft")
    page.get_by_role("button", name="Search").click()
    rows = page.get_by_role("row")
    expect(rows).to_have_count(3)  # the head and two
    expect(page.get_by_role("link", name="An interview")).to_have_count(0)
    expect(page.get_by_label("Title contains")).to_have_value("update")
    page.get_by_role("link", name="Show all").click()
    expect(page.get_by_role("row")).to_have_count(4)
    assert_fits_the_width(page)


def test_a_kept_form_goes_only_over_https_where_the_console_is_served_so(
    settings: Settings, clock: Clock
) -> None:
    """What was typed (a subscriber's email, say) rides in its cookie as the session does:
    `Secure` when the console is on HTTPS."""
    https = settings.model_copy(update={"base_url": "https://podcasts.example.com"})
    page = "/console/shows/sharp-tech"
    with TestClient(create_app(https, clock), base_url="https://testserver") as client:
        posted = client.post(
            page,
            data={"csrf": "from a session now gone", "title": "Kept"},
            headers={"Referer": f"https://testserver{page}"},
            follow_redirects=False,
        )
    assert posted.status_code == 303
    kept = [c for c in posted.headers.get_list("set-cookie") if c.startswith("podpass_unsaved=")]
    assert len(kept) == 1
    assert "secure" in kept[0].lower().split("; ")


def test_a_form_posted_after_the_session_ended_comes_back_filled_in_after_login(
    editor: Console, clock: Clock
) -> None:
    """Issue 24: after a session ended, a form post lost every edit."""
    episode = api_upload(editor, "Before")
    page = f"/console/episodes/{episode['id']}"
    csrf = editor.csrf
    clock.advance(timedelta(hours=12, seconds=1))  # the session has ended
    posted = editor.client.post(
        page,
        data={"csrf": csrf, "title": "After", "show_notes": "<p>New notes</p>", "free": "true"},
        headers={"Referer": f"http://testserver{page}"},
        follow_redirects=False,
    )
    login = posted.headers["location"]
    assert login == f"/console/login?next=%2Fconsole%2Fepisodes%2F{episode['id']}&unsaved=kept"
    assert "with what you typed in the form" in editor.client.get(login).text
    kept = SignedValues(SECRET_KEY, "podpass.console-unsaved-form").loads(
        posted.cookies["podpass_unsaved"]
    )
    assert kept["fields"] == [
        ["title", "After"],
        ["show_notes", "<p>New notes</p>"],
        ["free", "true"],
    ]

    assert log_in_as(editor.client, "editor@example.com", PASSWORD).status_code == 303
    restored = editor.client.get(page).text
    assert '<script type="application/json" id="restored-form">' in restored
    assert "New notes" in restored
    assert "What you typed before your session ended is back" in restored
    assert "restored-form" not in editor.client.get(page).text  # once
    unchanged = editor.client.get(f"/admin/episodes/{episode['id']}", headers=ADMIN).json()
    assert unchanged["title"] == "Before"


def test_edits_survive_a_login_in_the_browser(
    browser: Browser, live: tuple[str, httpx.Client]
) -> None:
    base, admin = live
    create_show(admin)
    make_staff(admin, "editor@example.com", "editor")
    episode = upload(admin, "sharp-tech", title="Before").json()
    page = log_in(browser, base, "editor@example.com", f"/console/episodes/{episode['id']}")
    page.get_by_label("Title").fill("After the break")
    page.get_by_label("Season").fill("3")
    page.get_by_label("Free (on the public feed too)").check()
    page.context.clear_cookies(name=COOKIE)  # the session ends while the page is open
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("with what you typed in the form")
    page.get_by_label("Email").fill("editor@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/console/episodes/{episode['id']}")
    expect(page.locator("#restored-banner")).to_be_visible()
    expect(page.get_by_label("Title")).to_have_value("After the break")
    expect(page.get_by_label("Season")).to_have_value("3")
    expect(page.get_by_label("Free (on the public feed too)")).to_be_checked()
    assert_fits_the_width(page)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("After the break: saved.")
    saved = admin.get(f"/admin/episodes/{episode['id']}").json()
    assert (saved["title"], saved["season"], saved["free"]) == ("After the break", 3, True)


def test_a_show_title_longer_than_its_column_is_refused_on_the_form(
    client: TestClient, clock: Clock
) -> None:
    """The shows' title column holds 255 characters: a longer title is a problem on the form
    (and a 422 from the API), never a database error (PostgreSQL refuses what SQLite keeps)."""
    editor = console_as(client, clock, "editor")
    form = NEW_SHOW | {"title": "T" * 256, "slug": "long-title", "category": "News"}
    refused = editor.post("/console/shows", form)
    assert refused.status_code == 422
    assert "title: must be 255 characters or fewer" in refused.text
    assert f'value="{"T" * 256}"' in refused.text
    assert 'maxlength="255"' in refused.text
    api = client.post("/admin/shows", json=form | {"explicit": True}, headers=ADMIN)
    assert api.status_code == 422
    assert client.get("/admin/shows/long-title", headers=ADMIN).status_code == 404
    assert editor.post("/console/shows", form | {"title": "T" * 255}).status_code == 303
    assert client.get("/admin/shows/long-title", headers=ADMIN).json()["title"] == "T" * 255


def test_a_bad_address_is_said_in_a_persons_words_and_the_api_keeps_its_own(
    editor: Console,
) -> None:
    """The trial: pydantic's words ("state.str-enum[EpisodeState]: Input should be …") and the
    API's hint ("GET /admin/shows lists them.") on the console's error pages."""
    refused = {
        "/console/shows/sharp-tech/episodes?state=nonsense": "This address is not one the "
        "console makes: state must be one of draft, published or scheduled.",
        "/console/shows/sharp-tech/episodes?q=" + "x" * 501: "This address is not one the "
        "console makes: q must be 500 characters or fewer.",
        "/console/episodes/abc": "There is no episode abc.",
        "/console/shows/nope": "No show with slug &#39;nope&#39;.",
    }
    for address, words in refused.items():
        page = editor.get(address)
        assert page.status_code in (404, 422), address
        assert words in page.text, address
        assert "Input should" not in page.text
        assert "GET /admin/shows" not in page.text
    client = editor.client
    assert client.get("/admin/shows/nope", headers=ADMIN).json()["detail"] == (
        "No show with slug 'nope'. GET /admin/shows lists them."
    )
    bad_id = client.get("/admin/episodes/abc", headers=ADMIN).json()["detail"]
    assert bad_id[0]["field"] == "episode_id"
    assert bad_id[0]["message"].startswith("Input should be a valid integer")
