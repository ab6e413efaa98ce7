"""Damaged media and show edits: a clear 4xx (or, for embedded cover art, a quiet skip),
never a 500, and nothing left behind."""

import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from tests import media
from tests.conftest import MP3, stored_files, upload

DAMAGED = media.damaged_images()


@pytest.mark.parametrize("filename", DAMAGED)
def test_damaged_show_artwork_is_422(
    admin: TestClient, show: dict[str, Any], settings: Settings, filename: str
) -> None:
    response = admin.put(
        "/admin/shows/sharp-tech/artwork",
        files={"image": (filename, DAMAGED[filename], "application/octet-stream")},
    )
    assert response.status_code == 422, response.text
    assert f"{filename} is damaged or truncated" in response.json()["detail"]
    assert admin.get("/admin/shows/sharp-tech").json()["artwork_key"] is None
    assert stored_files(settings) == []


@pytest.mark.parametrize("filename", DAMAGED)
def test_damaged_episode_artwork_is_422(
    admin: TestClient, show: dict[str, Any], settings: Settings, filename: str
) -> None:
    episode = upload(admin, "sharp-tech", title="One").json()
    audio_only = stored_files(settings)
    response = admin.put(
        f"/admin/episodes/{episode['id']}/artwork",
        files={"image": (filename, DAMAGED[filename], "application/octet-stream")},
    )
    assert response.status_code == 422, response.text
    assert f"{filename} is damaged or truncated" in response.json()["detail"]
    assert admin.get(f"/admin/episodes/{episode['id']}").json()["artwork_key"] is None
    assert stored_files(settings) == audio_only


@pytest.mark.parametrize("damage", ["truncated-ihdr.png", "half.png"])
def test_broken_embedded_cover_art_is_skipped(
    admin: TestClient,
    show: dict[str, Any],
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    path = media.chaptered_mp3(tmp_path, [(0, "Intro")], cover=DAMAGED[damage])
    with caplog.at_level(logging.INFO, logger="app.episodes.service"):
        response = upload(admin, "sharp-tech", path, title="Covered")
    assert response.status_code == 201, response.text
    assert response.json()["artwork_key"] is None
    assert "ignoring embedded artwork" in caplog.text
    assert "damaged or truncated" in caplog.text
    assert len(stored_files(settings)) == 1  # the audio, and no image


def test_an_mp3_cut_inside_its_last_frame_is_refused(
    admin: TestClient, show: dict[str, Any], settings: Settings
) -> None:
    headerless = media.headerless_mp3()
    last_frame = headerless.rindex(b"\xff\xf3")  # the last frame's sync word
    assert len(headerless) - last_frame in (104, 105)  # the fixture's frame lengths
    refused = {
        # No Xing/Info header: nothing but the frames says how long the stream is.
        "cut.mp3": headerless[:-50],
        "cut-in-header.mp3": headerless[: last_frame + 2],
        "cut-then-tagged.mp3": headerless[:-50] + media.id3v1_tag(),
        # An Info header, and a cut too small for its stated length to notice.
        "cut-info.mp3": MP3.read_bytes()[:-50],
    }
    for filename, content in refused.items():
        response = upload(admin, "sharp-tech", content=content, filename=filename, title="T")
        assert response.status_code == 422, (filename, response.text)
        assert response.json()["detail"] == (
            f"{filename} looks cut short: its last MP3 frame is incomplete. "
            "Upload the complete file."
        )
    assert stored_files(settings) == []
    accepted = {
        "whole.mp3": headerless,
        "id3v1.mp3": headerless + media.id3v1_tag(),
        "ape-id3v1.mp3": headerless + media.ape_tag() + media.id3v1_tag(),
        # A cut on a frame boundary leaves a shorter, sound stream: it cannot be told.
        "boundary.mp3": headerless[:last_frame],
    }
    for filename, content in accepted.items():
        response = upload(admin, "sharp-tech", content=content, filename=filename, title="T")
        assert response.status_code == 201, (filename, response.text)
        assert response.json()["duration_seconds"] > 2.5


def test_null_clears_an_optional_show_field(admin: TestClient, show: dict[str, Any]) -> None:
    set_up = admin.patch(
        "/admin/shows/sharp-tech",
        json={
            "feed_limit": 5,
            "category": "News",
            "subcategory": "Politics",
            "subscribe_url": "https://example.com/subscribe",
        },
    )
    assert set_up.status_code == 200, set_up.text
    assert set_up.json()["subscribe_url"] == "https://example.com/subscribe"
    response = admin.patch(
        "/admin/shows/sharp-tech",
        json={"feed_limit": None, "subcategory": None, "subscribe_url": None},
    )
    assert response.status_code == 200, response.text
    cleared = admin.get("/admin/shows/sharp-tech").json()
    assert (cleared["feed_limit"], cleared["subcategory"], cleared["subscribe_url"]) == (
        None,
        None,
        None,
    )
    assert cleared["category"] == "News"
    assert cleared["feed_version"] > set_up.json()["feed_version"]


@pytest.mark.parametrize("field", ["title", "link", "owner_email", "itunes_type", "people"])
def test_null_for_a_field_a_show_always_has_is_422(
    admin: TestClient, show: dict[str, Any], field: str
) -> None:
    response = admin.patch("/admin/shows/sharp-tech", json={field: None})
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == [
        {
            "field": field,
            "message": "Value error, cannot be null: leave the field out to keep its value",
        }
    ]
    assert admin.get("/admin/shows/sharp-tech").json() == show


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subscribe_url", "ftp://example.com/subscribe"),
        ("subscribe_url", "https://example.com/" + "a" * 2040),
        ("link", "https://example.com/" + "a" * 2040),
        ("feed_limit", 2**31),
        ("feed_limit", 2**63),
    ],
)
def test_out_of_range_show_fields_are_422(
    admin: TestClient, show: dict[str, Any], field: str, value: object
) -> None:
    created = admin.post("/admin/shows", json=SHOW_B | {field: value})
    assert created.status_code == 422, created.text
    assert created.json()["detail"][0]["field"] == field
    updated = admin.patch("/admin/shows/sharp-tech", json={field: value})
    assert updated.status_code == 422, updated.text
    assert admin.get("/admin/shows/sharp-tech").json() == show


SHOW_B = {
    "slug": "other",
    "title": "Other",
    "description": "Another show.",
    "author": "A",
    "owner_name": "A",
    "owner_email": "a@example.com",
    "link": "https://example.com/other",
}
