"""Dynamic items and personal feeds (issue 16): the welcome item, the payment-problem item,
personal titles and each plan's back catalogue."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings
from app.db import build_engine
from app.models import Subscriber
from tests.conftest import MP3, stored_files
from tests.test_billing import event, send


def show_version(admin: TestClient) -> int:
    version: int = admin.get("/admin/shows/sharp-tech").json()["feed_version"]
    return version


def test_a_welcome_item_is_set_up_changed_and_removed(
    admin: TestClient, show: dict[str, Any], settings: Settings
) -> None:
    missing = admin.get("/admin/shows/sharp-tech/welcome")
    assert missing.status_code == 404
    assert "PUT /admin/shows/sharp-tech/welcome" in missing.json()["detail"]

    before = show_version(admin)
    put = admin.put("/admin/shows/sharp-tech/welcome", json={})
    assert put.status_code == 200, put.text
    assert put.json() | {"updated_at": None} == {
        "days": 30,
        "title": None,
        "notes": None,
        "audio_uploaded": False,
        "audio_mime": None,
        "audio_size": None,
        "duration_seconds": None,
        "updated_at": None,
    }
    assert show_version(admin) == before + 1  # every cached feed of the show is stale

    custom = admin.put(
        "/admin/shows/sharp-tech/welcome",
        json={"days": 14, "title": "Hello & welcome", "notes": "Your page: {subscriber_page}"},
    ).json()
    assert (custom["days"], custom["title"]) == (14, "Hello & welcome")
    assert custom["notes"] == "<p>Your page: {subscriber_page}</p>"  # sanitised, link kept

    uploaded = admin.put(
        "/admin/shows/sharp-tech/welcome/audio",
        files={"audio": ("hello.mp3", MP3.read_bytes(), "audio/mpeg")},
    )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["audio_uploaded"] is True
    assert uploaded.json()["audio_mime"] == "audio/mpeg"
    assert uploaded.json()["audio_size"] == MP3.stat().st_size
    assert uploaded.json()["days"] == 14  # the audio changes nothing else
    (first,) = stored_files(settings)

    admin.put(
        "/admin/shows/sharp-tech/welcome/audio",
        files={"audio": ("again.mp3", MP3.read_bytes(), "audio/mpeg")},
    )
    (second,) = stored_files(settings)
    assert second != first  # the replaced recording is gone

    default = admin.delete("/admin/shows/sharp-tech/welcome/audio").json()
    assert default["audio_uploaded"] is False
    assert default["audio_size"] is None
    assert stored_files(settings) == []

    admin.put(
        "/admin/shows/sharp-tech/welcome/audio",
        files={"audio": ("hello.mp3", MP3.read_bytes(), "audio/mpeg")},
    )
    assert admin.delete("/admin/shows/sharp-tech/welcome").status_code == 204
    assert admin.get("/admin/shows/sharp-tech/welcome").status_code == 404
    assert stored_files(settings) == []  # its recording went with it


def test_welcome_audio_is_checked_like_an_episode(
    admin: TestClient, show: dict[str, Any], settings: Settings
) -> None:
    no_welcome = admin.put(
        "/admin/shows/sharp-tech/welcome/audio",
        files={"audio": ("hello.mp3", MP3.read_bytes(), "audio/mpeg")},
    )
    assert no_welcome.status_code == 404
    assert stored_files(settings) == []  # stored first, removed on the rollback
    admin.put("/admin/shows/sharp-tech/welcome", json={"days": 7})
    not_audio = admin.put(
        "/admin/shows/sharp-tech/welcome/audio",
        files={"audio": ("notes.txt", b"hello, this is not audio", "text/plain")},
    )
    assert not_audio.status_code == 415
    assert admin.put("/admin/shows/sharp-tech/welcome", json={"days": -1}).status_code == 422
    off = admin.put("/admin/shows/sharp-tech/welcome", json={"days": 0})
    assert off.status_code == 200
    assert off.json()["days"] == 0


def test_personal_titles_are_opt_in_per_show(admin: TestClient, show: dict[str, Any]) -> None:
    assert show["personal_title"] is False
    changed = admin.patch("/admin/shows/sharp-tech", json={"personal_title": True})
    assert changed.status_code == 200
    assert changed.json()["personal_title"] is True
    assert changed.json()["feed_version"] == show["feed_version"] + 1
    refused = admin.patch("/admin/shows/sharp-tech", json={"personal_title": None})
    assert refused.status_code == 422


def test_a_subscriber_may_have_a_name(admin: TestClient, show: dict[str, Any]) -> None:
    named = admin.post(
        "/admin/subscribers",
        json={"email": "jane@example.com", "name": " Jane <&> 🎧 ", "shows": ["sharp-tech"]},
    )
    assert named.status_code == 201, named.text
    assert named.json()["name"] == "Jane <&> 🎧"
    unnamed = admin.post("/admin/subscribers", json={"email": "joe@example.com"})
    assert unnamed.json()["name"] is None


def test_a_plan_keeps_its_back_catalogue_rule(admin: TestClient, show: dict[str, Any]) -> None:
    plan = {"name": "Lite", "shows": ["sharp-tech"]}
    assert admin.put("/admin/plans/lite", json=plan).json()["back_catalogue"] == {"rule": "all"}
    latest = admin.put(
        "/admin/plans/lite", json=plan | {"back_catalogue": {"rule": "latest", "episodes": 10}}
    )
    assert latest.json()["back_catalogue"] == {"rule": "latest", "episodes": 10}
    kept = admin.put("/admin/plans/lite", json=plan)  # omitted: kept
    assert kept.json()["back_catalogue"] == {"rule": "latest", "episodes": 10}
    since = admin.put(
        "/admin/plans/lite",
        json=plan | {"back_catalogue": {"rule": "since_joining", "days_before": 7}},
    )
    assert since.json()["back_catalogue"] == {"rule": "since_joining", "days_before": 7}
    (listed,) = admin.get("/admin/plans").json()
    assert listed["back_catalogue"] == {"rule": "since_joining", "days_before": 7}
    for wrong in (
        {"rule": "latest"},
        {"rule": "latest", "episodes": 0},
        {"rule": "since_joining", "days_before": -1},
        {"rule": "newest"},
    ):
        refused = admin.put("/admin/plans/lite", json=plan | {"back_catalogue": wrong})
        assert refused.status_code == 422, wrong
    everything = admin.put("/admin/plans/lite", json=plan | {"back_catalogue": {"rule": "all"}})
    assert everything.json()["back_catalogue"] == {"rule": "all"}


def test_billing_remembers_the_plan_it_granted(
    admin: TestClient, show: dict[str, Any], settings: Settings
) -> None:
    admin.put("/admin/plans/lite", json={"name": "Lite", "shows": ["sharp-tech"]})
    assert send(admin, event("created", 100, plan="lite")).status_code == 200
    engine = build_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            plan_id = connection.scalar(select(Subscriber.plan_id))
        assert plan_id == "lite"
        assert admin.delete("/admin/plans/lite").status_code == 204
        with engine.connect() as connection:
            assert connection.scalar(select(Subscriber.plan_id)) is None  # back to "all"
    finally:
        engine.dispose()
