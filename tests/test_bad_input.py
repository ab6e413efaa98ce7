"""Bad input gets a clear 4xx and leaves nothing behind: no row, no stored file."""

import html
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.config import Environment, Settings
from app.core.logs import RedactTokens
from app.main import create_app
from tests.conftest import M4A, MP3, feed_path, stored_files, subscribe, upload
from tests.parsers import gpodder, partytime, universal


def assert_nothing_left(admin: TestClient, settings: Settings) -> None:
    assert admin.get("/admin/shows/sharp-tech/episodes").json() == []
    assert stored_files(settings) == []


@pytest.mark.parametrize(
    ("content", "filename", "status", "phrase"),
    [
        (b"%PDF-1.4 this is not audio at all" * 10, "notes.pdf", 415, "upload MP3 or M4A"),
        (MP3.read_bytes()[: MP3.stat().st_size // 2], "cut.mp3", 422, "truncated"),
        (M4A.read_bytes()[: M4A.stat().st_size // 2], "cut.m4a", 422, "truncated"),
        (MP3.read_bytes()[:64], "stub.mp3", 422, "could not be read as audio"),
        (b"", "empty.mp3", 422, "empty"),
    ],
)
def test_rejected_uploads(
    admin: TestClient,
    show: dict[str, Any],
    settings: Settings,
    content: bytes,
    filename: str,
    status: int,
    phrase: str,
) -> None:
    response = upload(admin, "sharp-tech", content=content, filename=filename, title="T")
    assert response.status_code == status, response.text
    assert phrase in response.json()["detail"]
    assert filename in response.json()["detail"]
    assert_nothing_left(admin, settings)


def test_upload_over_the_limit_is_413(
    admin: TestClient, show: dict[str, Any], settings: Settings
) -> None:
    # Just over the file limit (2 MiB in tests): the service measures the file.
    over = MP3.read_bytes() + b"\0" * (settings.max_upload_bytes)
    response = upload(admin, "sharp-tech", content=over, filename="big.mp3", title="Big")
    assert response.status_code == 413
    assert "PODPASS_MAX_UPLOAD_MB" in response.json()["detail"]
    # Far over: the body is cut off while it streams in, before it is all on disk.
    huge = b"\0" * (settings.max_upload_bytes * 3)
    response = upload(admin, "sharp-tech", content=huge, filename="huge.mp3", title="Huge")
    assert response.status_code == 413
    assert "PODPASS_MAX_UPLOAD_MB" in response.json()["detail"]
    assert_nothing_left(admin, settings)


def test_unknown_show(admin: TestClient, settings: Settings) -> None:
    response = upload(admin, "no-such-show", title="T")
    assert response.status_code == 404
    assert "no-such-show" in response.json()["detail"]
    assert stored_files(settings) == []


def test_file_without_a_title_tag_needs_a_title(
    admin: TestClient, show: dict[str, Any], settings: Settings
) -> None:
    data = M4A.read_bytes().replace(b"M4A Tagged Title", b"\0" * 16)
    response = upload(admin, "sharp-tech", content=data, filename="untitled.m4a")
    if response.status_code == 201:  # the zeroed tag is dropped as empty
        pytest.fail("an empty title must not be accepted")
    assert response.status_code == 422
    assert "title" in response.json()["detail"]
    assert_nothing_left(admin, settings)


ODD_TITLES = [
    "Q&A: <script>alert(1)</script> ]]> & more",
    "Emoji 🎧🇺🇸 and ZWJ 👩‍💻",
    "עברית و العربية mixed with English",
    "Ünïcödé ñ ß 漢字",
]


@pytest.mark.parametrize("title", ODD_TITLES)
def test_odd_unicode_keeps_the_feed_valid(
    admin: TestClient, show: dict[str, Any], title: str
) -> None:
    notes = f"<p>{html.escape(title, quote=False)}</p>"
    created = upload(
        admin, "sharp-tech", title=title, show_notes=notes + "<![CDATA[ tricky ]]>", publish=True
    )
    assert created.status_code == 201, created.text
    subscriber = subscribe(admin, "odd@example.com", "sharp-tech")
    body = admin.get(feed_path(subscriber, "sharp-tech")).content
    assert universal(body).entries[0].title == title  # feedparser sanitises the HTML
    episode = gpodder(body)["episodes"][0]
    assert episode["title"] == title
    assert episode["description_html"] == notes  # as written, less the CDATA section
    assert partytime(body)["items"][0]["title"] == title


EPISODE_ROUTES = [
    ("GET", ""),
    ("PATCH", ""),
    ("DELETE", ""),
    ("POST", "/publish"),
    ("POST", "/unpublish"),
    ("PUT", "/artwork"),
    ("PUT", "/chapters"),
    ("PUT", "/transcript"),
]


@pytest.mark.parametrize(("method", "suffix"), EPISODE_ROUTES)
def test_episode_ids_beyond_the_id_column_are_refused(
    admin: TestClient, method: str, suffix: str
) -> None:
    # Id columns are 32-bit on PostgreSQL and 64-bit on SQLite: no row has either id.
    for episode_id in (2**31 - 1, 2**31, 2**63 - 1):
        response = admin.request(method, f"/admin/episodes/{episode_id}{suffix}", json={})
        assert response.status_code in (404, 422), (episode_id, response.text)
    beyond = admin.request(method, f"/admin/episodes/{2**63}{suffix}", json={})
    assert beyond.status_code == 422, beyond.text
    assert "episode_id" in str(beyond.json()["detail"])


@pytest.mark.parametrize("path", ["/admin/subscribers/{n}", "/admin/subscribers?offset={n}"])
def test_huge_ids_and_offsets_are_refused_everywhere(
    admin: TestClient, show: dict[str, Any], path: str
) -> None:
    for n in (2**31, 2**63, 10**30):
        response = admin.get(path.format(n=n))
        assert response.status_code == 422, (n, response.text)
        assert response.json()["error"] == "invalid_input"


def test_huge_episode_ids_on_the_audio_route_name_no_episode(
    admin: TestClient, show: dict[str, Any]
) -> None:
    # The hottest route takes a plain int and its gate checks the bound (cheaper than
    # validating it as a path parameter): no such episode, whoever asks.
    token = feed_path(subscribe(admin, "big@example.com", "sharp-tech"), "sharp-tech").split("/")[2]
    for n in (2**31, 2**63 - 1, 2**63):
        response = admin.get(f"/p/{token}/{n}.mp3")
        assert response.status_code == 404, (n, response.text)
        assert response.json()["detail"] == "No such episode in this feed."


@pytest.mark.parametrize(
    "path",
    [
        "/p/{token}/foo.opml",
        "/p/{token}/abc.mp3",
        "/p/{token}/0.mp3",
        "/p/{token}/{n}.mp3",
        "/p/{token}/{n}/chapters.json",
        "/p/{token}/{n}/transcript.vtt",
        "/p/{token}/{n}/artwork.jpg",
        "/p/{token}/archive/0.xml",
        "/p/{token}/archive/abc.xml",
        "/p/{token}/archive/{n}.xml",
        "/shows/sharp-tech/archive/0.xml",
        "/shows/sharp-tech/archive/{n}.xml",
        "/shows/sharp-tech/episodes/abc.mp3",
        "/shows/sharp-tech/episodes/{n}.mp3",
        "/shows/sharp-tech/episodes/{n}/chapters.json",
        "/shows/sharp-tech/episodes/{n}/transcript.vtt",
        "/shows/sharp-tech/episodes/{n}/artwork.jpg",
    ],
)
def test_feed_paths_that_name_no_file_are_404(
    admin: TestClient, show: dict[str, Any], path: str
) -> None:
    # A podcast app treats a 422 as a server fault; there is just no such file. Ids past the
    # id column (32-bit on PostgreSQL) never reach the database, and a number too long for
    # int() (over 4,300 digits) matches no route.
    subscriber = subscribe(admin, "typo@example.com", "sharp-tech")
    token = feed_path(subscriber, "sharp-tech").split("/")[2]
    for n in (2**31, 2**63, 10**30, "9" * 5000):
        for method in ("GET", "HEAD"):
            response = admin.request(method, path.format(token=token, n=n))
            assert response.status_code == 404, (method, n, response.text)


@pytest.mark.parametrize("field", ["season", "number"])
def test_season_and_number_fit_their_columns(
    admin: TestClient, show: dict[str, Any], field: str
) -> None:
    fits: dict[str, Any] = {field: 2**31 - 1}
    largest = upload(admin, "sharp-tech", title="Largest", **fits)
    assert largest.status_code == 201, largest.text
    assert largest.json()[field] == 2**31 - 1
    beyond = upload(admin, "sharp-tech", title="Beyond", **{field: fits[field] + 1})
    assert beyond.status_code == 422, beyond.text
    assert field in str(beyond.json()["detail"])
    patched = admin.patch(f"/admin/episodes/{largest.json()['id']}", json={field: 2**31})
    assert patched.status_code == 422, patched.text
    assert field in str(patched.json()["detail"])
    assert [e["title"] for e in admin.get("/admin/shows/sharp-tech/episodes").json()] == ["Largest"]


@pytest.mark.parametrize("start", ["Infinity", "1e400"])
def test_chapter_times_must_be_finite(admin: TestClient, show: dict[str, Any], start: str) -> None:
    episode = upload(admin, "sharp-tech", title="T").json()
    response = admin.put(
        f"/admin/episodes/{episode['id']}/chapters",
        content=f'{{"chapters": [{{"startTime": {start}, "title": "Intro"}}]}}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert "startTime" in str(response.json()["detail"])
    assert admin.get(f"/admin/episodes/{episode['id']}").json()["chapters"] is None


@pytest.mark.parametrize("bad", ["Bell\x07", "Null\x00byte", "Escape\x1b[31m"])
def test_control_characters_are_refused(
    admin: TestClient, show: dict[str, Any], settings: Settings, bad: str
) -> None:
    response = upload(admin, "sharp-tech", title=bad)
    assert response.status_code == 422
    assert "control character" in str(response.json()["detail"])
    assert_nothing_left(admin, settings)
    patched = admin.patch("/admin/shows/sharp-tech", json={"description": bad})
    assert patched.status_code == 422


def test_storage_failure_mid_upload_is_503(
    admin: TestClient, show: dict[str, Any], settings: Settings
) -> None:
    # The episodes folder is blocked by a file: the write fails like a full or broken disk.
    blocker = settings.audio_dir / "episodes"
    blocker.write_bytes(b"")
    response = upload(admin, "sharp-tech", title="T")
    assert response.status_code == 503
    assert "Nothing was saved" in response.json()["detail"]
    assert admin.get("/admin/shows/sharp-tech/episodes").json() == []
    assert stored_files(settings) == [blocker]


@pytest.mark.usefixtures("failing_episode_inserts")
def test_database_failure_after_storing_removes_the_object(
    settings: Settings, show: dict[str, Any], admin: TestClient
) -> None:
    response = upload(admin, "sharp-tech", title="T")
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert stored_files(settings) == []


def test_tokens_never_reach_the_access_log(
    admin: TestClient, show: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    token = feed_path(subscribe(admin, "log@example.com", "sharp-tech"), "sharp-tech")
    token = token.split("/")[2]
    access = logging.getLogger("uvicorn.access")
    assert any(isinstance(f, RedactTokens) for f in access.filters)
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        access.info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/p/{token}/feed.xml", "1.1", 200
        )
    assert token not in caplog.text
    assert f"/p/{token[:6]}…/feed.xml" in caplog.text
    signed = "MQ.awnTEg.eq3B5VCQXGfvObCQYQRz_uxlWXY"
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        access.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            f"/my/{signed}/podcasts.opml",
            "1.1",
            200,
        )
    assert signed not in caplog.text
    assert "/my/MQ.awn…/podcasts.opml" in caplog.text


def test_unsafe_secrets_fail_fast_in_production(settings: Settings) -> None:
    with pytest.raises(ValueError, match="PODPASS_SECRET_KEY is unsafe"):
        Settings(env="production", secret_key="changeme", admin_key="x" * 40)
    with pytest.raises(ValueError, match="PODPASS_ADMIN_KEY is not set"):
        Settings(secret_key="x" * 40, admin_key="")
    # Random keys like the test's own pass in production; development takes any non-empty key.
    strong = Settings(
        env="production", secret_key=settings.secret_key, admin_key=settings.admin_key
    )
    assert strong.env is Environment.PRODUCTION
    assert Settings(secret_key="changeme", admin_key="test").admin_key == "test"


def test_chunked_upload_is_cut_off_at_the_limit(
    admin: TestClient, show: dict[str, Any], settings: Settings
) -> None:
    head = (
        b'--b\r\nContent-Disposition: form-data; name="audio"; filename="a.mp3"\r\n'
        b"Content-Type: audio/mpeg\r\n\r\n"
    )

    def body() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield head
        for _ in range(settings.max_upload_mb * 4):
            yield b"\0" * 1024 * 1024

    response = admin.post(
        "/admin/shows/sharp-tech/episodes",
        content=body(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413
    assert "PODPASS_MAX_UPLOAD_MB" in response.json()["detail"]
    assert_nothing_left(admin, settings)


def test_an_unexpected_error_is_the_json_500(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal_error",
        "detail": "Something went wrong on the server; nothing was changed.",
    }
