"""The whole story: upload, subscribe, parse the feed, fetch audio, revoke."""

import io
from typing import Any

import feedparser
import podcastparser
from fastapi.testclient import TestClient

from tests.conftest import M4A, MP3, feed_path, subscribe, upload


def parse_both(body: bytes, url: str) -> tuple[dict[str, Any], Any]:
    gpodder = podcastparser.parse(url, io.BytesIO(body))
    universal = feedparser.parse(body)
    assert not universal.bozo, universal.bozo_exception
    return gpodder, universal


def test_upload_subscribe_listen_revoke(admin: TestClient, show: dict[str, Any]) -> None:
    mp3 = upload(admin, "sharp-tech", publish=True, show_notes="<p>Notes & more</p>")
    assert mp3.status_code == 201, mp3.text
    m4a = upload(admin, "sharp-tech", M4A, title="The M4A one", publish=True)
    assert m4a.status_code == 201, m4a.text
    episodes = {e["title"]: e for e in (mp3.json(), m4a.json())}
    # The MP3's title came from its own ID3 tag.
    assert "Tagged Title & <Friends> 🎙" in episodes

    subscriber = subscribe(admin, "listener@example.com", "sharp-tech")
    path = feed_path(subscriber, "sharp-tech")
    feed = admin.get(path, headers={"Authorization": ""})
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("application/rss+xml")
    assert b"<itunes:block>Yes</itunes:block>" in feed.content

    gpodder, universal = parse_both(feed.content, "http://testserver" + path)
    parsed = {e["title"]: e for e in gpodder["episodes"]}
    assert parsed.keys() == episodes.keys()
    for title, episode in episodes.items():
        item = parsed[title]
        assert item["guid"] == episode["guid"]
        assert item["total_time"] == round(episode["duration_seconds"])
        (enclosure,) = item["enclosures"]
        assert enclosure["file_size"] == episode["audio_size"]
        assert enclosure["mime_type"] == episode["audio_mime"]
    assert {e.id for e in universal.entries} == {e["guid"] for e in episodes.values()}
    assert {e.title for e in universal.entries} == episodes.keys()
    assert universal.feed.title == "Sharp Tech"
    assert universal.feed.link == "https://example.com/sharp-tech"

    audio_url = parsed["Tagged Title & <Friends> 🎙"]["enclosures"][0]["url"]
    audio_path = audio_url.removeprefix("http://testserver")
    probe = admin.get(audio_path, headers={"Range": "bytes=0-1"})
    assert probe.status_code == 206
    assert probe.content == MP3.read_bytes()[:2]
    assert probe.headers["content-range"] == f"bytes 0-1/{MP3.stat().st_size}"

    revoke = admin.post(f"/admin/subscribers/{subscriber['id']}/revoke")
    assert revoke.status_code == 200
    assert revoke.json()["status"] == "revoked"
    assert admin.get(path).status_code == 410
    assert admin.get(audio_path, headers={"Range": "bytes=0-1"}).status_code == 410
