"""The private feed and its audio: validators, compression, token states."""

import gzip
import logging
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.console.router import site_root
from app.core.db.session import transaction
from app.episodes import service as episodes
from app.feeds.documents import _links, archive_pages
from app.feeds.render import render_feed
from app.feeds.router import router as feeds_router
from app.models import Show
from app.portal import router as portal
from tests import parsers
from tests.conftest import M4A, MP3, Clock, feed_path, subscribe, upload
from tests.media import chaptered_mp3


@pytest.fixture
def published(admin: TestClient, show: dict[str, Any]) -> list[dict[str, Any]]:
    episodes = []
    for path in (MP3, M4A):
        response = upload(admin, "sharp-tech", path, title=f"Episode {path.suffix}", publish=True)
        assert response.status_code == 201, response.text
        episodes.append(response.json())
    return episodes


@pytest.fixture
def subscriber(admin: TestClient, published: list[dict[str, Any]]) -> dict[str, Any]:
    return subscribe(admin, "fan@example.com", "sharp-tech")


def titles(body: bytes) -> list[str]:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.bozo_exception
    return [entry.title for entry in parsed.entries]


def enclosure_paths(body: bytes) -> list[str]:
    parsed = feedparser.parse(body)
    return [e.enclosures[0].href.removeprefix("http://testserver") for e in parsed.entries]


def test_conditional_get_answers_304(
    client: TestClient, subscriber: dict[str, Any], clock: Clock
) -> None:
    clock.advance(timedelta(seconds=3))  # polled a little after it was published
    path = feed_path(subscriber, "sharp-tech")
    first = client.get(path)
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(path, headers={"If-None-Match": f'"other", {etag}'}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    not_modified = client.get(path, headers={"If-Modified-Since": last_modified})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    earlier = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    assert client.get(path, headers={"If-Modified-Since": earlier}).status_code == 200


def test_etag_changes_when_the_show_changes(
    admin: TestClient, subscriber: dict[str, Any], published: list[dict[str, Any]]
) -> None:
    path = feed_path(subscriber, "sharp-tech")
    etag = admin.get(path).headers["etag"]
    assert admin.post(f"/admin/episodes/{published[0]['id']}/unpublish").status_code == 200
    after = admin.get(path, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert titles(after.content) == ["Episode .m4a"]


def test_head_and_gzip(client: TestClient, subscriber: dict[str, Any]) -> None:
    path = feed_path(subscriber, "sharp-tech")
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    raw = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.content == plain.content  # the client decoded it
    head = client.head(path, headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(plain.content)
    assert head.headers["etag"] == plain.headers["etag"]


def test_every_public_get_answers_head_too() -> None:
    # Apps, link checkers and uptime monitors ask with HEAD first; a 405 reads as broken.
    for router in (feeds_router, portal.my, portal.public, portal.unsubscribing, site_root):
        methods: dict[str, set[str]] = {}
        for route in router.routes:
            assert isinstance(route, APIRoute)
            methods.setdefault(route.path, set()).update(route.methods or ())
        without_head = [path for path, m in methods.items() if "GET" in m and "HEAD" not in m]
        assert without_head == []


def test_head_is_answered_as_get_is(
    admin: TestClient, show: dict[str, Any], tmp_path: Path
) -> None:
    audio = chaptered_mp3(tmp_path, [(0, "Intro"), (1500, "Outro")])
    episode = upload(admin, "sharp-tech", audio, title="Chaptered", publish=True).json()
    subscriber = subscribe(admin, "head@example.com", "sharp-tech")
    root = feed_path(subscriber, "sharp-tech").removesuffix("/feed.xml")
    page = admin.post(f"/admin/subscribers/{subscriber['id']}/page-link").json()["url"]
    for path in (
        f"{root}/all.opml",
        f"{root}/{episode['id']}/chapters.json",
        page.removeprefix("http://testserver"),
        "/healthz",
    ):
        get, head = admin.get(path), admin.head(path)
        assert get.status_code == 200, (path, get.text)
        assert head.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]


def test_gzip_body_is_a_single_valid_member(client: TestClient, subscriber: dict[str, Any]) -> None:
    path = feed_path(subscriber, "sharp-tech")
    plain = client.get(path, headers={"Accept-Encoding": "identity"}).content
    with client.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as response:
        compressed = b"".join(response.iter_raw())
    assert gzip.decompress(compressed) == plain


def test_every_subscriber_sees_the_same_guids_and_their_own_token(
    admin: TestClient, subscriber: dict[str, Any]
) -> None:
    other = subscribe(admin, "other@example.com", "sharp-tech")
    mine = admin.get(feed_path(subscriber, "sharp-tech")).content
    theirs = admin.get(feed_path(other, "sharp-tech")).content
    assert [e.id for e in feedparser.parse(mine).entries] == [
        e.id for e in feedparser.parse(theirs).entries
    ]
    my_token = feed_path(subscriber, "sharp-tech").split("/")[2]
    their_token = feed_path(other, "sharp-tech").split("/")[2]
    assert my_token in mine.decode()
    assert their_token not in mine.decode()
    assert all(my_token in p for p in enclosure_paths(mine))


def test_enclosure_ranges(client: TestClient, subscriber: dict[str, Any]) -> None:
    body = client.get(feed_path(subscriber, "sharp-tech")).content
    paths = dict(zip(titles(body), enclosure_paths(body), strict=True))
    mp3_path, data = paths["Episode .mp3"], MP3.read_bytes()
    size = len(data)

    full = client.get(mp3_path)
    assert full.status_code == 200
    assert full.content == data
    assert full.headers["content-type"] == "audio/mpeg"
    assert full.headers["accept-ranges"] == "bytes"

    opened = client.get(mp3_path, headers={"Range": "bytes=100-"})
    assert opened.status_code == 206
    assert opened.content == data[100:]
    assert opened.headers["content-range"] == f"bytes 100-{size - 1}/{size}"

    suffix = client.get(mp3_path, headers={"Range": "bytes=-100"})
    assert suffix.status_code == 206
    assert suffix.content == data[-100:]

    past = client.get(mp3_path, headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{size}"

    head = client.head(mp3_path)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(size)

    m4a = client.get(paths["Episode .m4a"], headers={"Range": "bytes=0-1"})
    assert m4a.status_code == 206
    assert m4a.headers["content-type"] == "audio/x-m4a"
    assert m4a.content == M4A.read_bytes()[:2]


def test_rotation_kills_the_old_url_and_keeps_guids(
    admin: TestClient, subscriber: dict[str, Any]
) -> None:
    old_path = feed_path(subscriber, "sharp-tech")
    old_body = admin.get(old_path).content
    old_audio = enclosure_paths(old_body)[0]
    rotated = admin.post(f"/admin/subscribers/{subscriber['id']}/shows/sharp-tech/rotate")
    assert rotated.status_code == 200
    new_path = feed_path(rotated.json(), "sharp-tech")
    assert new_path != old_path
    assert admin.get(old_path).status_code == 404
    assert admin.get(old_audio).status_code == 404
    new_body = admin.get(new_path).content
    assert [e.id for e in feedparser.parse(new_body).entries] == [
        e.id for e in feedparser.parse(old_body).entries
    ]
    assert admin.get(enclosure_paths(new_body)[0]).status_code == 200


def test_lapse_shows_one_notice_then_reinstate_restores(
    admin: TestClient, subscriber: dict[str, Any], settings: Any
) -> None:
    path = feed_path(subscriber, "sharp-tech")
    audio = enclosure_paths(admin.get(path).content)[0]
    lapsed = admin.post(f"/admin/subscribers/{subscriber['id']}/lapse")
    assert lapsed.json()["status"] == "lapsed"

    inactive = admin.get(path)
    assert inactive.status_code == 200
    parsed = feedparser.parse(inactive.content)
    (notice,) = parsed.entries
    assert notice.title == f"Subscription inactive — renew at {settings.renew_url}"
    (spoken,) = notice.enclosures  # the spoken notice, not paid audio
    assert spoken.href == "http://testserver/notice.mp3"
    played = admin.get("/notice.mp3", headers={"Range": "bytes=0-1"})
    assert played.status_code == 206
    assert played.headers["content-type"] == "audio/mpeg"
    assert int(spoken.length) == int(played.headers["content-range"].rsplit("/", 1)[1])
    assert admin.get(audio).status_code == 403

    assert admin.post(f"/admin/subscribers/{subscriber['id']}/reinstate").status_code == 200
    assert titles(admin.get(path).content) == ["Episode .m4a", "Episode .mp3"]
    assert admin.get(audio).status_code == 200


def test_free_episode_audio_stays_playable_when_lapsed(
    admin: TestClient, show: dict[str, Any]
) -> None:
    free = upload(admin, "sharp-tech", title="Free one", publish=True, free=True).json()
    subscriber = subscribe(admin, "free@example.com", "sharp-tech")
    audio = enclosure_paths(admin.get(feed_path(subscriber, "sharp-tech")).content)[0]
    assert audio.endswith(f"/{free['id']}.mp3")
    admin.post(f"/admin/subscribers/{subscriber['id']}/lapse")
    assert admin.get(audio).status_code == 200


def test_removing_a_show_from_a_bundle_stops_it(
    admin: TestClient, subscriber: dict[str, Any]
) -> None:
    path = feed_path(subscriber, "sharp-tech")
    audio = enclosure_paths(admin.get(path).content)[0]
    changed = admin.put(f"/admin/subscribers/{subscriber['id']}/shows", json={"shows": []})
    assert changed.json()["feeds"][0]["entitled"] is False
    assert len(feedparser.parse(admin.get(path).content).entries) == 1
    assert admin.get(audio).status_code == 403
    restored = admin.put(
        f"/admin/subscribers/{subscriber['id']}/shows", json={"shows": ["sharp-tech"]}
    )
    assert feed_path(restored.json(), "sharp-tech") == path
    assert admin.get(audio).status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        "short",
        "A" * 55,
        "A" * 54 + "!",
        "../../etc/passwd",
    ],
)
def test_forged_and_malformed_tokens_get_a_plain_404(client: TestClient, token: str) -> None:
    response = client.get(f"/p/{token}/feed.xml")
    assert response.status_code == 404
    assert client.get(f"/p/{token}/1.mp3").status_code == 404


def test_tampered_signature_is_indistinguishable_from_unknown(
    client: TestClient, subscriber: dict[str, Any]
) -> None:
    token = feed_path(subscriber, "sharp-tech").split("/")[2]
    tampered = token[:20] + ("a" if token[20] != "a" else "b") + token[21:]
    forged = client.get(f"/p/{tampered}/feed.xml")
    unknown = client.get(f"/p/{'x' * 55}/feed.xml")
    assert forged.status_code == unknown.status_code == 404
    assert forged.json() == unknown.json()


def test_drafts_and_scheduled_episodes_stay_out(
    admin: TestClient, subscriber: dict[str, Any]
) -> None:
    upload(admin, "sharp-tech", title="Draft")
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    scheduled = upload(admin, "sharp-tech", title="Tomorrow", published_at=future).json()
    assert scheduled["status"] == "published"
    path = feed_path(subscriber, "sharp-tech")
    assert titles(admin.get(path).content) == ["Episode .m4a", "Episode .mp3"]
    audio = enclosure_paths(admin.get(path).content)[0]
    scheduled_audio = audio.rsplit("/", 1)[0] + f"/{scheduled['id']}.mp3"
    assert admin.get(scheduled_audio).status_code == 404


def test_audio_of_another_show_is_refused(admin: TestClient, subscriber: dict[str, Any]) -> None:
    other_show = admin.get("/admin/shows").json()
    assert [s["slug"] for s in other_show] == ["sharp-tech"]
    admin.post(
        "/admin/shows",
        json={
            "slug": "goat",
            "title": "GOAT",
            "description": "d",
            "author": "a",
            "owner_name": "o",
            "owner_email": "o@example.com",
            "link": "https://example.com/g",
        },
    )
    goat_episode = upload(admin, "goat", title="Hoops", publish=True).json()
    token = feed_path(subscriber, "sharp-tech").split("/")[2]
    assert admin.get(f"/p/{token}/{goat_episode['id']}.mp3").status_code == 404


def test_a_scheduled_episode_appears_when_its_time_comes(
    admin: TestClient, subscriber: dict[str, Any], clock: Clock
) -> None:
    path = feed_path(subscriber, "sharp-tech")
    due = datetime.now(UTC) + timedelta(hours=1)
    upload(admin, "sharp-tech", title="Scheduled", published_at=due.isoformat())
    before = admin.get(path)
    assert "Scheduled" not in titles(before.content)
    assert admin.get(path, headers={"If-None-Match": before.headers["etag"]}).status_code == 304
    clock.advance(timedelta(hours=1, seconds=1))
    after = admin.get(path, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert titles(after.content)[0] == "Scheduled"
    assert after.headers["etag"] != before.headers["etag"]


def test_publishing_changes_the_feed_for_every_poller(
    admin: TestClient, subscriber: dict[str, Any]
) -> None:
    path = feed_path(subscriber, "sharp-tech")
    etag = admin.get(path).headers["etag"]
    draft = upload(admin, "sharp-tech", title="Fresh").json()
    assert admin.get(path, headers={"If-None-Match": etag}).status_code == 304
    admin.post(f"/admin/episodes/{draft['id']}/publish")
    fresh = admin.get(path, headers={"If-None-Match": etag, "Accept-Encoding": "gzip"})
    assert fresh.status_code == 200
    assert titles(fresh.content)[0] == "Fresh"


def full_render(admin: TestClient, token: str | None, page: int = 0) -> bytes:
    """The feed as feedgen renders it from scratch: every item of the page at once."""
    state = admin.app.state  # type: ignore[attr-defined]
    with transaction(state.db.reader) as session:
        show = session.scalars(select(Show).where(Show.slug == "sharp-tech")).one()
        now = state.clock()
        visible = episodes.visible(session, show.id, now=now, free_only=token is None)
        pages = archive_pages(visible, show.feed_limit)
        place = state.urls.public(show.slug) if token is None else state.urls.private(token)
        links = _links(state.urls, show, place, page, len(pages))
        return render_feed(show, pages[page], links, private=token is not None)


def served(admin: TestClient, path: str) -> bytes:
    """The feed at `path`, plain; checked to be the same as its gzip."""
    plain = admin.get(path, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200, plain.text
    with admin.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as response:
        assert response.headers["content-encoding"] == "gzip"
        compressed = b"".join(response.iter_raw())
    assert zlib.decompress(compressed, 31) == plain.content  # and its CRC and length
    return plain.content


def rendered_items(caplog: pytest.LogCaptureFixture) -> int:
    """How many items the feeds polled since the last call rendered (the rest were kept)."""
    total = 0
    for record in caplog.records:
        if record.msg == "feed of show %s: %d items rendered":
            assert isinstance(record.args, tuple)
            rendered = record.args[1]
            assert isinstance(rendered, int)
            total += rendered
    caplog.clear()
    return total


def test_a_feed_kept_from_version_to_version_is_the_full_render_byte_for_byte(
    admin: TestClient, show: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Items are rendered once per episode version and the gzip is spliced from kept
    segments; whatever changes, the bytes are those of a render from scratch."""
    caplog.set_level(logging.DEBUG, logger="app.feeds.documents")
    ids = []
    for i in range(6):
        notes = f"<p>Notes {i}: ]]> &amp; <b>more</b> &lt;/item&gt;</p>" * (i + 1)
        response = upload(admin, "sharp-tech", title=f"Ep {i}", show_notes=notes, publish=True)
        ids.append(response.json()["id"])
    admin.patch(f"/admin/episodes/{ids[1]}", json={"free": True})
    path = feed_path(subscribe(admin, "fan@example.com", "sharp-tech"), "sharp-tech")
    token = path.split("/")[2]
    assert served(admin, path) == full_render(admin, token)
    assert served(admin, "/shows/sharp-tech/feed.xml") == full_render(admin, None)
    assert rendered_items(caplog) == 6 + 1  # the private feed's six, the public one's one

    changes: list[tuple[Callable[[], object], int]] = [
        (lambda: upload(admin, "sharp-tech", title="New", publish=True), 1),
        (lambda: admin.patch(f"/admin/episodes/{ids[3]}", json={"title": "Edited"}), 1),
        (lambda: admin.post(f"/admin/episodes/{ids[2]}/unpublish"), 0),
        (lambda: admin.delete(f"/admin/episodes/{ids[0]}"), 0),
        (lambda: admin.patch(f"/admin/episodes/{ids[4]}", json={"free": True}), 1),
        (lambda: admin.patch("/admin/shows/sharp-tech", json={"title": "Sharper"}), 0),
        (lambda: admin.patch("/admin/shows/sharp-tech", json={"language": "de"}), 5),
    ]
    for change, rendered in changes:
        change()
        body = served(admin, path)
        assert body == full_render(admin, token)
        assert rendered_items(caplog) == rendered
        assert served(admin, "/shows/sharp-tech/feed.xml") == full_render(admin, None)
        caplog.clear()
    listed = ["New", "Ep 5", "Ep 4", "Edited", "Ep 1"]
    assert sorted(e["title"] for e in parsers.gpodder(body)["episodes"]) == sorted(listed)
    assert parsers.universal(body).feed.title == "Sharper"
    assert len(parsers.partytime(body)["items"]) == 5


def test_archive_pages_kept_from_version_to_version_are_the_full_render(
    admin: TestClient, show: dict[str, Any]
) -> None:
    admin.patch("/admin/shows/sharp-tech", json={"feed_limit": 2})
    for i in range(5):
        upload(admin, "sharp-tech", title=f"Ep {i}", publish=True)
    path = feed_path(subscribe(admin, "fan@example.com", "sharp-tech"), "sharp-tech")
    token = path.split("/")[2]
    for _ in range(2):  # the second time, after a new episode moves every page along
        for page in range(3):
            page_path = path if page == 0 else path.replace("feed.xml", f"archive/{page}.xml")
            assert served(admin, page_path) == full_render(admin, token, page)
        upload(admin, "sharp-tech", title="New", publish=True)
