"""The admin API: authentication, shows, episodes, subscribers."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import images
from app.core.config import Settings
from app.core.db.engine import Database, build_engine
from app.core.db.session import transaction
from app.shows.commands import seed_shows
from app.storage.factory import build_storage
from tests import media
from tests.conftest import Clock, feed_path, stored_files, subscribe, upload
from tests.parsers import gpodder


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Basic abc"])
def test_admin_api_requires_the_key(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for method, path in [
        ("GET", "/admin/shows"),
        ("POST", "/admin/subscribers"),
        ("GET", "/admin/subscribers/1"),
    ]:
        response = client.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"] == "unauthorized"


def test_openapi_documents_the_admin_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/admin/shows/{slug}/episodes" in spec["paths"]
    assert "/admin/subscribers/{subscriber_id}/revoke" in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_show_crud(admin: TestClient, show: dict[str, Any]) -> None:
    assert show["slug"] == "sharp-tech"
    assert admin.get("/admin/shows/sharp-tech").json()["title"] == "Sharp Tech"
    updated = admin.patch("/admin/shows/sharp-tech", json={"title": "Sharp Tech 2"})
    assert updated.json()["title"] == "Sharp Tech 2"
    assert updated.json()["feed_version"] > show["feed_version"]
    assert [s["slug"] for s in admin.get("/admin/shows").json()] == ["sharp-tech"]
    again = admin.post("/admin/shows", json={**show, "link": "https://example.com"})
    assert again.status_code == 409
    assert admin.get("/admin/shows/nope").status_code == 404


def test_patching_people_with_empty_fields(admin: TestClient, show: dict[str, Any]) -> None:
    people = [{"name": "Ben", "role": "host", "img": None}]
    response = admin.patch("/admin/shows/sharp-tech", json={"people": people})
    assert response.status_code == 200, response.text
    assert response.json()["people"] == [{"name": "Ben", "role": "host"}]


def test_episode_lifecycle(admin: TestClient, show: dict[str, Any], settings: Settings) -> None:
    created = upload(
        admin,
        "sharp-tech",
        title="Draft one",
        season=2,
        number=7,
        episode_type="bonus",
        explicit=True,
    )
    assert created.status_code == 201, created.text
    episode = created.json()
    assert episode["status"] == "draft"
    assert (episode["season"], episode["number"], episode["episode_type"]) == (2, 7, "bonus")
    assert episode["duration_seconds"] == pytest.approx(3.1, abs=0.2)
    assert episode["bitrate"] > 0
    assert len(stored_files(settings)) == 1

    patched = admin.patch(
        f"/admin/episodes/{episode['id']}", json={"title": "Renamed", "show_notes": "<b>hi</b>"}
    )
    assert patched.json()["title"] == "Renamed"
    assert patched.json()["guid"] == episode["guid"]

    published = admin.post(f"/admin/episodes/{episode['id']}/publish")
    assert published.json()["status"] == "published"
    assert published.json()["published_at"] is not None
    listed = admin.get("/admin/shows/sharp-tech/episodes").json()
    assert [e["id"] for e in listed] == [episode["id"]]

    assert admin.delete(f"/admin/episodes/{episode['id']}").status_code == 204
    assert admin.get(f"/admin/episodes/{episode['id']}").status_code == 404
    assert stored_files(settings) == []


def test_article_narration_needs_its_url(admin: TestClient, show: dict[str, Any]) -> None:
    missing = upload(admin, "sharp-tech", title="Post", kind="article")
    assert missing.status_code == 422
    made = upload(
        admin,
        "sharp-tech",
        title="Post",
        kind="article",
        article_url="https://example.com/post",
        article_text="Full text.",
    )
    assert made.status_code == 201
    assert made.json()["article_url"] == "https://example.com/post"


def test_subscriber_lifecycle(admin: TestClient, show: dict[str, Any]) -> None:
    created = subscribe(admin, "Mixed@Example.COM", "sharp-tech")
    assert created["email"] == "mixed@example.com"
    assert created["status"] == "active"
    (feed,) = created["feeds"]
    assert feed["show"] == "sharp-tech"
    assert feed["entitled"] is True
    assert feed["feed_url"].startswith("http://testserver/p/")
    fetched = admin.get(f"/admin/subscribers/{created['id']}").json()
    assert fetched["feeds"] == created["feeds"]
    by_email = admin.get("/admin/subscribers", params={"email": "MIXED@example.com"}).json()
    assert [s["id"] for s in by_email] == [created["id"]]
    assert admin.get("/admin/subscribers", params={"status": "lapsed"}).json() == []
    for action, status in [("lapse", "lapsed"), ("reinstate", "active"), ("revoke", "revoked")]:
        changed = admin.post(f"/admin/subscribers/{created['id']}/{action}")
        assert changed.json()["status"] == status
    revoked = admin.get(f"/admin/subscribers/{created['id']}").json()
    assert feed_path(revoked, "sharp-tech") == feed_path(created, "sharp-tech")
    assert admin.get(feed_path(created, "sharp-tech")).status_code == 410


def test_a_subscribers_changes_are_stamped_by_the_apps_clock(
    admin: TestClient, show: dict[str, Any], clock: Clock
) -> None:
    """The time a change is stamped with, and the time the email it queues is due, is the
    app's clock (which a test moves on), not the wall clock."""
    created = subscribe(admin, "later@example.com", "sharp-tech")
    clock.advance(timedelta(days=1))
    moved = clock()
    rotated = admin.post(f"/admin/subscribers/{created['id']}/shows/sharp-tech/rotate").json()
    lapsed = admin.post(f"/admin/subscribers/{created['id']}/lapse").json()
    now = clock()
    for changed in (rotated, lapsed):
        assert moved <= datetime.fromisoformat(changed["updated_at"]) <= now
    queued = {m["payload"]["template"]: m for m in admin.get("/admin/outbox").json()}
    for template in ("url_reset", "lapsed"):
        assert moved <= datetime.fromisoformat(queued[template]["next_attempt_at"]) <= now


def test_reinstated_after_revoke_gets_new_urls_only(
    admin: TestClient, show: dict[str, Any]
) -> None:
    created = subscribe(admin, "again@example.com", "sharp-tech")
    admin.post(f"/admin/subscribers/{created['id']}/revoke")
    revoked_path = feed_path(admin.get(f"/admin/subscribers/{created['id']}").json(), "sharp-tech")
    assert admin.get(revoked_path).status_code == 410
    back = admin.post(f"/admin/subscribers/{created['id']}/reinstate").json()
    assert admin.get(feed_path(created, "sharp-tech")).status_code == 404
    assert admin.get(feed_path(back, "sharp-tech")).status_code == 200


def test_duplicate_email_is_a_conflict(admin: TestClient, show: dict[str, Any]) -> None:
    subscribe(admin, "dup@example.com", "sharp-tech")
    again = admin.post("/admin/subscribers", json={"email": "DUP@example.com", "shows": []})
    assert again.status_code == 409
    assert "dup@example.com" in again.json()["detail"]
    assert len(admin.get("/admin/subscribers").json()) == 1


def test_unknown_show_in_entitlements(admin: TestClient, show: dict[str, Any]) -> None:
    response = admin.post(
        "/admin/subscribers", json={"email": "x@example.com", "shows": ["sharp-tech", "nope"]}
    )
    assert response.status_code == 404
    assert "'nope'" in response.json()["detail"]
    assert admin.get("/admin/subscribers").json() == []


def test_seeding_is_idempotent(admin: TestClient, settings: Settings) -> None:
    db = Database(build_engine(settings.database_url))
    for expected in (["update", "sharp-tech", "sharp-china", "goat"], []):
        with transaction(db.writer) as session:
            created = seed_shows(
                session,
                build_storage(settings),
                base_url="https://example.com",
                owner_email="owner@example.com",
            )
        assert created == expected
        if expected:
            first_artwork = stored_files(settings)
    db.engine.dispose()
    shows = admin.get("/admin/shows").json()
    assert [s["slug"] for s in shows] == ["update", "sharp-tech", "sharp-china", "goat"]
    assert shows[0]["link"] == "https://example.com/shows/update"
    # The second run made no new artwork: one image per show, the same ones.
    assert stored_files(settings) == first_artwork
    assert len(first_artwork) == 4


def test_seeded_shows_have_artwork_apps_accept(admin: TestClient, settings: Settings) -> None:
    db = Database(build_engine(settings.database_url))
    with transaction(db.writer) as session:
        seed_shows(
            session,
            build_storage(settings),
            base_url="http://testserver",
            owner_email="owner@example.com",
        )
    db.engine.dispose()
    for show in admin.get("/admin/shows").json():
        assert show["artwork_key"], show["slug"]
        stored = (settings.audio_dir / show["artwork_key"]).read_bytes()
        assert images.probe_artwork(stored, show["artwork_key"]).width >= images.MIN_SIDE
        assert len(stored) < 200_000  # a title on a colour is small
        feed = admin.get(f"/shows/{show['slug']}/feed.xml")
        assert feed.status_code == 200, feed.text
        cover_url = gpodder(feed.content)["cover_url"]  # podcastparser reads itunes:image
        assert cover_url == f"http://testserver/shows/{show['slug']}/artwork.png"
        artwork = admin.get(cover_url.removeprefix("http://testserver"))
        assert artwork.status_code == 200
        assert artwork.content == stored


def test_seeding_keeps_artwork_a_show_already_has(admin: TestClient, settings: Settings) -> None:
    db = Database(build_engine(settings.database_url))
    storage = build_storage(settings)
    with transaction(db.writer) as session:
        seed_shows(session, storage, base_url="http://testserver", owner_email="o@example.com")
    uploaded = admin.put(
        "/admin/shows/goat/artwork", files={"image": ("goat.png", media.image(), "image/png")}
    )
    assert uploaded.status_code == 200, uploaded.text
    with transaction(db.writer) as session:
        seed_shows(session, storage, base_url="http://testserver", owner_email="o@example.com")
    db.engine.dispose()
    goat = admin.get("/admin/shows/goat").json()
    assert goat["artwork_key"] == uploaded.json()["artwork_key"]
    assert goat["feed_version"] == uploaded.json()["feed_version"]
