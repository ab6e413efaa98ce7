"""Delivery: validators that move when a subscriber's feed changes, one notice per lapse,
lenient ranges, conditional audio, download names, and the fast path's fallback count."""

import email
import email.utils
import gzip
import random
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import feedparser
import httpx2 as httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.core.config import AccelRedirect, Settings
from app.core.db.engine import build_engine
from app.feeds.access import Access, Variant
from app.feeds.documents import Document, Fallbacks, FeedView, Stamps
from app.main import create_app
from app.media.files import CHUNK, Audio, Files
from app.storage.local import LocalStorage
from tests.conftest import MP3, Clock, create_show, feed_path, subscribe, upload


@pytest.fixture
def subscriber(admin: TestClient, show: dict[str, Any]) -> dict[str, Any]:
    for title in ("One", "Two"):
        assert upload(admin, "sharp-tech", title=title, publish=True).status_code == 201
    return subscribe(admin, "fan@example.com", "sharp-tech")


def backdate(settings: Settings, by: timedelta) -> None:
    """Make everything so far have happened `by` earlier (and drop cached renders)."""
    engine = build_engine(settings.database_url)
    columns = {
        "shows": ["updated_at", "created_at"],
        "episodes": ["published_at", "created_at", "updated_at"],
        "feed_access": ["created_at", "changed_at"],
        "subscribers": ["created_at", "updated_at"],
    }
    with engine.begin() as connection:
        rows = connection.execute(text("SELECT id, updated_at FROM shows")).all()
        for table, names in columns.items():
            for name in names:
                values = connection.execute(text(f"SELECT id, {name} FROM {table}")).all()  # noqa: S608
                for row_id, value in values:
                    if value is None:
                        continue
                    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
                    moment = moment.replace(tzinfo=moment.tzinfo or UTC) - by
                    connection.execute(
                        text(f"UPDATE {table} SET {name} = :v WHERE id = :id"),  # noqa: S608
                        {"v": moment, "id": row_id},
                    )
        for show_id, _ in rows:
            connection.execute(
                text("UPDATE shows SET feed_version = feed_version + 1 WHERE id = :id"),
                {"id": show_id},
            )
    engine.dispose()


def guids(body: bytes) -> list[str]:
    return [entry.id for entry in feedparser.parse(body).entries]


def test_date_only_clients_see_lapse_and_renewal(
    admin: TestClient, subscriber: dict[str, Any], settings: Settings, clock: Clock
) -> None:
    backdate(settings, timedelta(hours=1))
    path = feed_path(subscriber, "sharp-tech")
    active = admin.get(path)
    since = {"If-Modified-Since": active.headers["last-modified"]}
    assert admin.get(path, headers=since).status_code == 304

    admin.post(f"/admin/subscribers/{subscriber['id']}/lapse")
    clock.advance(timedelta(seconds=3))  # polled a little later than the change
    lapsed = admin.get(path, headers=since)
    assert lapsed.status_code == 200
    assert guids(lapsed.content)[0].startswith("podpass-inactive-")
    since = {"If-Modified-Since": lapsed.headers["last-modified"]}
    assert admin.get(path, headers=since).status_code == 304

    admin.post(f"/admin/subscribers/{subscriber['id']}/reinstate")
    renewed = admin.get(path, headers=since)
    assert renewed.status_code == 200
    assert len(guids(renewed.content)) == 2

    admin.put(f"/admin/subscribers/{subscriber['id']}/shows", json={"shows": []})
    since = {"If-Modified-Since": renewed.headers["last-modified"]}
    removed = admin.get(path, headers=since)
    assert removed.status_code == 200
    assert guids(removed.content)[0].startswith("podpass-inactive-")


def test_last_modified_is_never_after_date(live: tuple[str, httpx.Client]) -> None:
    # A lapse and a renewal in one second are two changes, each of which a date-only client
    # must see; neither may date the feed after the response (RFC 9110 §8.8.2.1). Against
    # uvicorn, whose Date is the one a client compares with.
    _, admin = live
    create_show(admin)
    assert upload(admin, "sharp-tech", title="One", publish=True).status_code == 201
    subscriber = admin.post(
        "/admin/subscribers", json={"email": "date@example.com", "shows": ["sharp-tech"]}
    ).json()
    path = subscriber["feeds"][0]["feed_url"]
    seen = admin.get(path).headers["last-modified"]
    for action in ("lapse", "reinstate", "lapse", "reinstate"):
        assert admin.post(f"/admin/subscribers/{subscriber['id']}/{action}").status_code == 200
        response = admin.get(path, headers={"If-Modified-Since": seen})
        assert response.status_code == 200, action
        seen = response.headers["last-modified"]
        assert parsedate_to_datetime(seen) <= parsedate_to_datetime(response.headers["date"])
    assert len(guids(response.content)) == 1


def test_a_date_only_client_sees_two_show_changes_in_one_second(
    admin: TestClient, subscriber: dict[str, Any], clock: Clock
) -> None:
    path = feed_path(subscriber, "sharp-tech")
    for title in ("Sharp Tech Daily", "Sharp Tech Weekly"):
        seen = admin.get(path).headers["last-modified"]
        assert admin.patch("/admin/shows/sharp-tech", json={"title": title}).status_code == 200
        response = admin.get(path, headers={"If-Modified-Since": seen})
        assert response.status_code == 200, title
        assert feedparser.parse(response.content).feed.title == title
        assert parsedate_to_datetime(response.headers["last-modified"]) <= clock()


def test_each_lapse_is_a_new_notice(admin: TestClient, subscriber: dict[str, Any]) -> None:
    path = feed_path(subscriber, "sharp-tech")
    notices = []
    for _ in range(2):
        admin.post(f"/admin/subscribers/{subscriber['id']}/lapse")
        body = admin.get(path, headers={"Accept-Encoding": "gzip"}).content
        (guid,) = guids(body)
        notices.append(guid)
        assert path.split("/")[2] in body.decode()  # the token is stamped in too
        admin.post(f"/admin/subscribers/{subscriber['id']}/reinstate")
    assert notices[0] != notices[1]


def audio_path(admin: TestClient, subscriber: dict[str, Any]) -> str:
    body = admin.get(feed_path(subscriber, "sharp-tech")).content
    url: str = feedparser.parse(body).entries[-1].enclosures[0].href
    assert url.endswith(".mp3")
    return url.removeprefix("http://testserver")


@pytest.mark.parametrize("wanted", ["items=0-1", "bytes=abc", "bytes=5-2", "bytes", "bytes=-"])
def test_a_range_that_cannot_be_read_is_ignored(
    admin: TestClient, subscriber: dict[str, Any], wanted: str
) -> None:
    response = admin.get(audio_path(admin, subscriber), headers={"Range": wanted})
    assert response.status_code == 200
    assert response.content == MP3.read_bytes()


def test_a_range_past_the_end_is_a_json_416(admin: TestClient, subscriber: dict[str, Any]) -> None:
    size = MP3.stat().st_size
    path = audio_path(admin, subscriber)
    etag = admin.head(path).headers["etag"]
    for condition in ({}, {"If-Range": etag}):
        response = admin.get(path, headers={"Range": f"bytes={size}-"} | condition)
        assert response.status_code == 416
        assert response.headers["content-range"] == f"bytes */{size}"
        assert response.json()["error"] == "range_not_satisfiable"


def test_audio_answers_conditional_requests(admin: TestClient, subscriber: dict[str, Any]) -> None:
    path = audio_path(admin, subscriber)
    first = admin.get(path)
    assert first.status_code == 200
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert admin.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert admin.get(path, headers={"If-Modified-Since": modified}).status_code == 304
    assert admin.head(path, headers={"If-None-Match": etag}).status_code == 304
    assert admin.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_audio_answers_if_match_and_if_unmodified_since(
    admin: TestClient, subscriber: dict[str, Any]
) -> None:
    # RFC 9110 §13.1.1 and §13.1.4: a resumed download names the copy it holds, and must
    # not splice bytes of another file onto it.
    path = audio_path(admin, subscriber)
    first = admin.get(path)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    earlier = format_datetime(parsedate_to_datetime(modified) - timedelta(days=1), usegmt=True)
    for condition, status in (
        ({"If-Match": etag}, 206),
        ({"If-Match": f'"other", {etag}'}, 206),
        ({"If-Match": "*"}, 206),
        ({"If-Match": '"other"'}, 412),
        ({"If-Match": f"W/{etag}"}, 412),  # a weak tag never matches strongly
        ({"If-Unmodified-Since": modified}, 206),
        ({"If-Unmodified-Since": earlier}, 412),
        ({"If-Unmodified-Since": "not a date"}, 206),
        ({"If-Match": etag, "If-Unmodified-Since": earlier}, 206),  # If-Match decides
    ):
        for method in ("GET", "HEAD"):
            response = admin.request(method, path, headers=condition | {"Range": "bytes=0-1"})
            assert response.status_code == status, (method, condition)
    refused = admin.get(path, headers={"If-Match": '"other"'})
    assert refused.json()["error"] == "precondition_failed"


def saved_names(disposition: str) -> tuple[str, str]:
    """The names a Content-Disposition gives: `filename`, as gPodder reads it (download.py
    takes the stdlib email parser's first `filename`), and RFC 8187's `filename*`, which
    wget and browsers prefer."""
    message = email.message_from_string(f"Content-Disposition: {disposition}")
    param = message.get_param("filename", header="content-disposition")
    assert param is not None, disposition
    plain = email.utils.collapse_rfc2231_value(param)
    encoded = disposition.partition("filename*=UTF-8''")[2]
    assert encoded, disposition
    return plain, unquote(encoded)


@pytest.mark.parametrize(
    ("title", "ascii_name", "utf8_name"),
    [
        ("Ep. 4: Ünïcode / “quotes”", "Ep. 4 Unicode - quotes.mp3", "Ep. 4 Ünïcode - “quotes”.mp3"),
        ("第一集 开始", "episode-{id}.mp3", "第一集 开始.mp3"),
        ("Выпуск 1", "episode-{id}.mp3", "Выпуск 1.mp3"),
        ("../../etc/passwd", "etc-passwd.mp3", "etc-passwd.mp3"),
        ("naïve/bold?", "naive-bold.mp3", "naïve-bold.mp3"),
        ("🎉.hidden", "hidden.mp3", "🎉.hidden.mp3"),
        ("???", "episode-{id}.mp3", "episode-{id}.mp3"),
    ],
)
def test_audio_downloads_are_named_after_the_episode(
    admin: TestClient, show: dict[str, Any], title: str, ascii_name: str, utf8_name: str
) -> None:
    episode = upload(admin, "sharp-tech", title=title, publish=True).json()
    subscriber = subscribe(admin, "names@example.com", "sharp-tech")
    disposition = admin.get(audio_path(admin, subscriber)).headers["content-disposition"]
    assert disposition.startswith("inline; ")
    assert saved_names(disposition) == (
        ascii_name.format(id=episode["id"]),
        utf8_name.format(id=episode["id"]),
    )


def test_article_feeds_near_zlibs_reach_keep_the_fast_path(
    admin: TestClient, show: dict[str, Any]
) -> None:
    # Article narrations tens of KB long put token copies about 32 KB apart: around zlib's
    # reach, where the gzip template once fell back to compressing each request.
    for i, length in enumerate(range(31_800, 33_000, 60)):
        words = (f"w{i}x{n}" for n in range(length))
        article = " ".join(words)[:length]
        response = upload(
            admin,
            "sharp-tech",
            title=f"Post {i}",
            kind="article",
            article_url=f"https://example.com/posts/{i}",
            article_text=article,
            publish=True,
        )
        assert response.status_code == 201, response.text
    subscriber = subscribe(admin, "reader@example.com", "sharp-tech")
    path = feed_path(subscriber, "sharp-tech")
    plain = admin.get(path, headers={"Accept-Encoding": "identity"}).content
    with admin.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as response:
        compressed = b"".join(response.iter_raw())
    assert zlib.decompress(compressed, 31) == plain
    health = admin.get("/healthz").json()
    assert health["feed_fallbacks"] == 0
    assert health["feed_fallback_documents"] == 0


def test_a_document_without_a_template_is_counted_when_served() -> None:
    now = datetime.now(UTC)
    token = "t" * 55
    xml = b"<rss>PLACEHOLDER</rss>"
    document = Document(1, 1, (xml,), Stamps(b"PLACEHOLDER"), 'W/"x"', now, None, 1, None, None)
    fallbacks = Fallbacks()
    access = Access(token, token[:12], 1, 1, 1, Variant.ACTIVE, now)
    body = FeedView(document, access, fallbacks, now).gzip_body()
    assert gzip.decompress(body) == b"<rss>" + token.encode() + b"</rss>"
    assert fallbacks.requests == 1


def test_made_up_archive_pages_cost_nothing(admin: TestClient, show: dict[str, Any]) -> None:
    admin.patch("/admin/shows/sharp-tech", json={"feed_limit": 1})
    for title in ("One", "Two", "Three"):
        upload(admin, "sharp-tech", title=title, publish=True, free=True)
    assert admin.get("/shows/sharp-tech/archive/2.xml").status_code == 200
    documents = admin.app.state.stages.documents  # type: ignore[attr-defined]
    prepared = len(documents._locks)
    for page in (3, 999, 1_000_000):
        response = admin.get(f"/shows/sharp-tech/archive/{page}.xml")
        assert response.status_code == 404
        assert response.json()["detail"] == f"This feed has no archive page {page}."
    assert len(documents._locks) == prepared  # nothing rendered or remembered for them


def get_request(headers: dict[str, str], method: str = "GET") -> Request:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return Request({"type": "http", "method": method, "path": "/", "headers": raw})


@pytest.mark.parametrize(
    ("wanted", "start", "end"),
    [("bytes=0-1", 0, 2), ("bytes=100-199", 100, 200), ("bytes=-10", -10, None)],
)
def test_small_ranges_are_read_in_the_request_thread(
    admin: TestClient,
    subscriber: dict[str, Any],
    settings: Settings,
    wanted: str,
    start: int,
    end: int | None,
) -> None:
    data = MP3.read_bytes()
    path = audio_path(admin, subscriber)
    response = admin.get(path, headers={"Range": wanted})
    assert response.status_code == 206
    assert response.content == data[start:end]
    first = start % len(data)
    assert (
        response.headers["content-range"]
        == f"bytes {first}-{first + len(response.content) - 1}/{len(data)}"
    )
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["content-type"] == "audio/mpeg"
    assert "inline; filename=" in response.headers["content-disposition"]
    # Answered in one piece, not by FileResponse's streaming.
    key = next(p.relative_to(settings.audio_dir) for p in settings.audio_dir.rglob("*.mp3"))
    files = Files(get_request({"Range": wanted}), LocalStorage(settings.audio_dir))
    answer = files.audio(
        Audio(str(key), "audio/mpeg", len(data), "T", datetime.now(UTC)), "mp3", private=True
    )
    assert type(answer) is Response
    assert answer.body == data[start:end]


def test_other_ranges_are_still_starlettes(admin: TestClient, subscriber: dict[str, Any]) -> None:
    data = MP3.read_bytes()
    path = audio_path(admin, subscriber)
    etag = admin.head(path).headers["etag"]
    whole = admin.get(path, headers={"Range": "bytes=0-"})
    assert (whole.status_code, whole.content) == (206, data)
    several = admin.get(path, headers={"Range": "bytes=0-1,4-5"})
    assert several.status_code == 206
    assert several.headers["content-type"].startswith("multipart/byteranges")
    stale = admin.get(path, headers={"Range": "bytes=0-1", "If-Range": '"old"'})
    assert (stale.status_code, stale.content) == (200, data)
    current = admin.get(path, headers={"Range": "bytes=0-1", "If-Range": etag})
    assert (current.status_code, current.content) == (206, data[:2])
    head = admin.head(path, headers={"Range": "bytes=0-1"})
    assert (head.status_code, head.headers["content-length"], head.content) == (206, "2", b"")


@pytest.mark.parametrize("mode", [AccelRedirect.NGINX, AccelRedirect.SENDFILE])
def test_the_proxy_sends_the_bytes_once_the_token_is_checked(
    admin: TestClient,
    subscriber: dict[str, Any],
    settings: Settings,
    clock: Clock,
    mode: AccelRedirect,
) -> None:
    path = audio_path(admin, subscriber)
    stored = list(settings.audio_dir.rglob("*.mp3"))  # the episode's file is one of these
    keys = {p.relative_to(settings.audio_dir).as_posix() for p in stored}
    proxied = settings.model_copy(update={"accel_redirect": mode, "accel_prefix": "/_audio/"})
    with TestClient(create_app(proxied, clock)) as client:
        for method, headers in [
            ("GET", {}),
            ("HEAD", {}),
            ("GET", {"Range": "bytes=0-1"}),
            ("GET", {"Range": "bytes=99999999-"}),  # the proxy answers 416 as Starlette would
        ]:
            response = client.request(method, path, headers=headers)
            assert response.status_code == 200
            assert response.content == b""
            assert response.headers["content-type"] == "audio/mpeg"
            assert "inline; filename=" in response.headers["content-disposition"]
            assert response.headers["cache-control"] == "private, max-age=3600"
            if mode is AccelRedirect.NGINX:
                assert response.headers["x-accel-redirect"] in {f"/_audio/{quote(k)}" for k in keys}
            else:
                assert response.headers["x-sendfile"] in {str(p.resolve()) for p in stored}
        etag = response.headers["etag"]
        unchanged = client.get(path, headers={"If-None-Match": etag})
        assert unchanged.status_code == 304
        assert "x-accel-redirect" not in unchanged.headers
        assert "x-sendfile" not in unchanged.headers
        client.headers["Authorization"] = admin.headers["Authorization"]
        for action, status in (("lapse", 403), ("revoke", 410)):
            client.post(f"/admin/subscribers/{subscriber['id']}/{action}").raise_for_status()
            refused = client.get(path)
            assert refused.status_code == status
            assert "x-accel-redirect" not in refused.headers
            assert "x-sendfile" not in refused.headers


def test_a_file_of_several_chunks_arrives_whole_and_in_ranges(tmp_path: Path) -> None:
    """Local files go out in CHUNK-sized reads: every byte arrives, across chunk bounds."""
    data = random.Random(7).randbytes(2 * CHUNK + 12345)
    (tmp_path / "big.mp3").write_bytes(data)
    app = FastAPI()

    @app.get("/big.mp3")
    def big(request: Request) -> Response:
        audio = Audio("big.mp3", "audio/mpeg", len(data), "Big", datetime.now(UTC))
        return Files(request, LocalStorage(tmp_path)).audio(audio, "mp3", private=True)

    with TestClient(app) as client:
        whole = client.get("/big.mp3")
        assert (whole.status_code, whole.content) == (200, data)
        for start, end in [(0, CHUNK), (100, CHUNK + 105), (CHUNK - 1, 2 * CHUNK + 1)]:
            part = client.get("/big.mp3", headers={"Range": f"bytes={start}-{end - 1}"})
            assert (part.status_code, part.content) == (206, data[start:end])
        tail = client.get("/big.mp3", headers={"Range": f"bytes={CHUNK}-"})
        assert (tail.status_code, tail.content) == (206, data[CHUNK:])
