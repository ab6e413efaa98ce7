"""Dynamic items and personal feeds (issue 16): the welcome item, the payment-problem item,
personal titles and each plan's back catalogue."""

import logging
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.core.config import Settings
from app.core.db.engine import build_engine
from app.core.db.session import transaction
from app.episodes import service as episodes
from app.feeds.documents import _links, archive_pages
from app.feeds.personal import PLAIN, Shape
from app.feeds.render import render_feed
from app.models import Show, Subscriber, Welcome
from tests import parsers
from tests.conftest import MP3, Clock, feed_path, stored_files, subscribe, upload
from tests.test_billing import event, send, subscriber
from tests.test_feeds import served


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


def test_a_subscriber_is_corrected_and_their_personal_title_follows(
    admin: TestClient, show: dict[str, Any]
) -> None:
    upload(admin, "sharp-tech", publish=True).raise_for_status()
    admin.patch("/admin/shows/sharp-tech", json={"personal_title": True}).raise_for_status()
    jane = subscribe(admin, "jane@example.com", "sharp-tech")
    path = feed_path(jane, "sharp-tech")
    before = admin.get(path)
    assert "Sharp Tech (for jane)" in before.text
    renamed = admin.patch(f"/admin/subscribers/{jane['id']}", json={"name": "Jane Doe"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Jane Doe"
    assert renamed.json()["feeds"] == jane["feeds"]  # the same URLs
    after = admin.get(path, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200  # not a 304: the title changed
    assert "Sharp Tech (for Jane Doe)" in after.text
    moved = admin.patch(
        f"/admin/subscribers/{jane['id']}",
        json={"email": " Jane.Doe@Example.com ", "external_id": "cus_1", "name": None},
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["email"], moved.json()["external_id"], moved.json()["name"]) == (
        "jane.doe@example.com",
        "cus_1",
        None,
    )
    assert "Sharp Tech (for jane.doe)" in admin.get(path).text
    kept = admin.patch(f"/admin/subscribers/{jane['id']}", json={})  # nothing given
    assert (kept.json()["email"], kept.json()["external_id"]) == ("jane.doe@example.com", "cus_1")
    joe = subscribe(admin, "joe@example.com")
    taken = admin.patch(f"/admin/subscribers/{joe['id']}", json={"email": "jane.doe@example.com"})
    assert taken.status_code == 409
    assert "already exists" in taken.json()["detail"]
    billed = admin.patch(f"/admin/subscribers/{joe['id']}", json={"external_id": "cus_1"})
    assert billed.status_code == 409
    for wrong in ({"email": None}, {"email": "not an email"}, {"plan": "x"}, {"name": ""}):
        refused = admin.patch(f"/admin/subscribers/{joe['id']}", json=wrong)
        assert refused.status_code == 422, wrong
    assert admin.get(f"/admin/subscribers/{joe['id']}").json()["email"] == "joe@example.com"
    assert admin.patch("/admin/subscribers/999999", json={"name": "X"}).status_code == 404


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


# The feeds: what each subscriber sees.


@pytest.fixture
def published(admin: TestClient, show: dict[str, Any], clock: Clock) -> list[str]:
    """Episodes out 30, 8, 6 and 1 days ago, newest first."""
    titles: list[str] = []
    for days in (30, 8, 6, 1):
        title = f"{days} days ago"
        when = (clock() - timedelta(days=days)).isoformat()
        response = upload(admin, "sharp-tech", title=title, publish=True, published_at=when)
        assert response.status_code == 201, response.text
        titles.insert(0, title)
    return titles


def entries(body: bytes) -> list[Any]:
    return list(parsers.universal(body).entries)


def titles(body: bytes) -> list[str]:
    return [entry.title for entry in entries(body)]


def expected(
    admin: TestClient, path: str, shape: Shape, *, name: str | None = None, page: int = 0
) -> bytes:
    """The subscriber's feed as feedgen renders it from scratch: the variant's extras,
    title and episodes in one render."""
    state = admin.app.state  # type: ignore[attr-defined]
    documents = state.stages.documents
    token = path.split("/")[2]
    with transaction(state.db.reader) as session:
        show = session.scalars(select(Show).where(Show.slug == "sharp-tech")).one()
        now = state.clock()
        visible = episodes.visible(session, show.id, now=now, free_only=False)
        listed = episodes.visible_listed(session, show.id, now=now, free_only=False)
        if shape.episodes is not None:
            visible = visible[: shape.episodes]
        pages = archive_pages(visible, show.feed_limit)
        place = state.urls.private(documents._token)
        links = _links(state.urls, show, place, page, len(pages))
        welcome = session.get(Welcome, show.id)
        extras = (
            documents._extras(session, show, welcome, shape, listed, place) if page == 0 else []
        )
        title = f"{show.title} (for {name})" if name is not None else None
        xml = render_feed(show, pages[page], links, private=True, title=title, extras=extras)
    return xml.replace(documents._token.encode(), token.encode())


def test_a_new_subscriber_sees_the_welcome_item_for_its_days(
    admin: TestClient, published: list[str], clock: Clock
) -> None:
    admin.put("/admin/shows/sharp-tech/welcome", json={"days": 3})
    path = feed_path(subscribe(admin, "fan@example.com", "sharp-tech"), "sharp-tech")
    first = admin.get(path)
    body = served(admin, path)
    assert body == expected(admin, path, Shape(welcome=True))
    welcome, *rest = entries(body)
    assert welcome.title == "Welcome to Sharp Tech"
    assert [e.title for e in rest] == published  # everything else stays
    assert welcome.enclosures[0].href == "http://testserver/welcome.mp3"
    assert admin.get("/welcome.mp3").headers["content-type"] == "audio/mpeg"
    page_link = f"http://testserver{path.removesuffix('/feed.xml')}/my"
    assert page_link in welcome.description  # the default notes: their own page
    opened = admin.get(page_link.removeprefix("http://testserver"), follow_redirects=False)
    assert opened.status_code == 303
    assert opened.headers["location"].startswith("http://testserver/my/")
    assert len(parsers.partytime(body)["items"]) == 1 + len(published)
    assert parsers.gpodder(body)["episodes"][0]["title"] == "Welcome to Sharp Tech"

    clock.advance(timedelta(days=2, hours=23))
    later = served(admin, path)
    assert entries(later)[0].id == welcome.id  # the same GUID all along
    assert admin.get(path, headers={"If-None-Match": first.headers["etag"]}).status_code == 304

    clock.advance(timedelta(hours=1, seconds=1))
    gone = admin.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert gone.status_code == 200
    assert titles(gone.content) == published
    since = {"If-Modified-Since": first.headers["last-modified"]}
    assert admin.get(path, headers=since).status_code == 200  # Last-Modified moved too


def test_the_publishers_own_welcome_recording_and_words(
    admin: TestClient, published: list[str]
) -> None:
    admin.put(
        "/admin/shows/sharp-tech/welcome",
        json={"title": "Hello & <welcome>", "notes": '<p><a href="{subscriber_page}">You</a></p>'},
    )
    admin.put(
        "/admin/shows/sharp-tech/welcome/audio",
        files={"audio": ("hello.mp3", MP3.read_bytes(), "audio/mpeg")},
    )
    path = feed_path(subscribe(admin, "fan@example.com", "sharp-tech"), "sharp-tech")
    body = served(admin, path)
    assert body == expected(admin, path, Shape(welcome=True))
    welcome = entries(body)[0]
    assert welcome.title == "Hello & <welcome>"
    enclosure = welcome.enclosures[0]
    assert enclosure.href == "http://testserver/shows/sharp-tech/welcome.mp3"
    assert int(enclosure.length) == MP3.stat().st_size
    assert admin.get("/shows/sharp-tech/welcome.mp3").content == MP3.read_bytes()
    assert f"{path.removesuffix('/feed.xml')}/my" in welcome.description


def test_a_payment_problem_shows_one_item_until_payment_recovers(
    admin: TestClient, published: list[str]
) -> None:
    admin.put("/admin/plans/tech", json={"name": "Sharp Tech", "shows": ["sharp-tech"]})
    send(admin, event("created", 100, plan="tech"))
    path = feed_path(subscriber(admin), "sharp-tech")
    assert titles(served(admin, path)) == published

    send(admin, event("past_due", 200))
    body = served(admin, path)
    assert body == expected(admin, path, Shape(payment_day=date(1970, 1, 1)))
    problem, *rest = entries(body)
    assert problem.title == "Payment problem — update your card at https://example.com/renew"
    assert problem.link == "https://example.com/renew"
    assert problem.enclosures[0].href == "http://testserver/payment.mp3"
    assert [e.title for e in rest] == published  # everything else stays
    assert len(parsers.partytime(body)["items"]) == 1 + len(published)
    etag = admin.get(path).headers["etag"]

    send(admin, event("renewed", 300, plan="tech"))
    recovered = admin.get(path, headers={"If-None-Match": etag})
    assert recovered.status_code == 200
    assert titles(recovered.content) == published


@pytest.mark.parametrize(
    ("name", "email", "shown"),
    [
        ("Jane & <Co> 🎧", "jane@example.com", "Jane & <Co> 🎧"),
        (None, "joe.bloggs+pods@example.com", "joe.bloggs+pods"),
    ],
)
def test_a_personal_title_is_valid_in_every_parser(
    admin: TestClient, published: list[str], name: str | None, email: str, shown: str
) -> None:
    admin.patch("/admin/shows/sharp-tech", json={"personal_title": True})
    created = admin.post(
        "/admin/subscribers", json={"email": email, "name": name, "shows": ["sharp-tech"]}
    )
    path = feed_path(created.json(), "sharp-tech")
    body = served(admin, path)
    assert body == expected(admin, path, PLAIN, name=shown)
    title = f"Sharp Tech (for {shown})"
    assert parsers.universal(body).feed.title == title
    assert parsers.gpodder(body)["title"] == title
    assert parsers.partytime(body)["title"] == title
    assert titles(body) == published
    head = admin.get(path, headers={"Accept-Encoding": "gzip"})
    assert head.headers["etag"] != admin.get("/shows/sharp-tech/feed.xml").headers["etag"]


def test_a_lapsed_feed_keeps_the_personal_title(admin: TestClient, published: list[str]) -> None:
    # Apps name a show after its feed's title: a lapse must not rename it in their library.
    admin.patch("/admin/shows/sharp-tech", json={"personal_title": True})
    jane = admin.post(
        "/admin/subscribers",
        json={"email": "jane@example.com", "name": "Jane & <Co>", "shows": ["sharp-tech"]},
    ).json()
    path = feed_path(jane, "sharp-tech")
    title = "Sharp Tech (for Jane & <Co>)"
    assert parsers.universal(served(admin, path)).feed.title == title
    admin.post(f"/admin/subscribers/{jane['id']}/lapse")
    lapsed = served(admin, path)
    assert titles(lapsed)[0].startswith("Subscription inactive")
    assert parsers.universal(lapsed).feed.title == title
    assert parsers.gpodder(lapsed)["title"] == title
    assert parsers.partytime(lapsed)["title"] == title
    etag = admin.get(path).headers["etag"]

    admin.patch(f"/admin/subscribers/{jane['id']}", json={"name": "Jane Doe"})
    renamed = admin.get(path, headers={"If-None-Match": etag})
    assert renamed.status_code == 200
    assert parsers.universal(renamed.content).feed.title == "Sharp Tech (for Jane Doe)"


def test_a_date_based_plan_shows_a_new_subscriber_only_the_last_week(
    admin: TestClient, published: list[str], clock: Clock
) -> None:
    admin.put(
        "/admin/plans/week",
        json={
            "name": "This week",
            "shows": ["sharp-tech"],
            "back_catalogue": {"rule": "since_joining", "days_before": 7},
        },
    )
    send(admin, event("created", int(clock().timestamp()), plan="week"))
    path = feed_path(subscriber(admin), "sharp-tech")
    body = served(admin, path)
    assert titles(body) == ["1 days ago", "6 days ago"]
    assert body == expected(admin, path, Shape(episodes=2))
    assert len(parsers.partytime(body)["items"]) == 2
    # Older episodes' audio is refused to them as well: not in their feed.
    by_title = {e["title"]: e["id"] for e in admin.get("/admin/shows/sharp-tech/episodes").json()}
    token = path.split("/")[2]
    assert admin.get(f"/p/{token}/{by_title['6 days ago']}.mp3").status_code == 200
    assert admin.get(f"/p/{token}/{by_title['8 days ago']}.mp3").status_code == 404
    # Those given the show by hand see everything.
    everything = feed_path(subscribe(admin, "fan@example.com", "sharp-tech"), "sharp-tech")
    assert titles(served(admin, everything)) == published


def test_a_latest_n_plan_shows_the_newest_episodes_and_pages_stay_whole(
    admin: TestClient, published: list[str]
) -> None:
    admin.patch("/admin/shows/sharp-tech", json={"feed_limit": 1})
    admin.put(
        "/admin/plans/two",
        json={
            "name": "Two",
            "shows": ["sharp-tech"],
            "back_catalogue": {"rule": "latest", "episodes": 2},
        },
    )
    send(admin, event("created", 100, plan="two"))
    path = feed_path(subscriber(admin), "sharp-tech")
    assert titles(served(admin, path)) == published[:1]
    archive = path.replace("feed.xml", "archive/1.xml")
    assert titles(served(admin, archive)) == published[1:2]
    assert served(admin, archive) == expected(admin, path, Shape(episodes=2), page=1)
    assert admin.get(path.replace("feed.xml", "archive/2.xml")).status_code == 404


def test_every_variant_at_once_is_the_full_render(
    admin: TestClient, published: list[str], clock: Clock
) -> None:
    """Welcome, payment problem, personal title and a back catalogue together, through
    republishing: the spliced gzip and the plain body are a render from scratch."""
    admin.put("/admin/shows/sharp-tech/welcome", json={"days": 30})
    admin.patch("/admin/shows/sharp-tech", json={"personal_title": True})
    admin.put(
        "/admin/plans/three",
        json={
            "name": "Three",
            "shows": ["sharp-tech"],
            "back_catalogue": {"rule": "latest", "episodes": 3},
        },
    )
    send(admin, event("created", 100, plan="three"))
    send(admin, event("past_due", 200))
    path = feed_path(subscriber(admin), "sharp-tech")
    shape = Shape(welcome=True, payment_day=date(1970, 1, 1), episodes=3)
    name = "payer"
    body = served(admin, path)
    assert body == expected(admin, path, shape, name=name)
    assert titles(body)[:2] == [
        "Payment problem — update your card at https://example.com/renew",
        "Welcome to Sharp Tech",
    ]
    upload(admin, "sharp-tech", title="Fresh", publish=True)
    body = served(admin, path)
    assert body == expected(admin, path, shape, name=name)
    assert titles(body)[2:] == ["Fresh", *published[:2]]
    assert parsers.universal(body).feed.title == "Sharp Tech (for payer)"
    assert len(parsers.partytime(body)["items"]) == 5


def test_variants_nobody_asks_for_are_dropped(
    admin: TestClient, published: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.feeds.documents")
    admin.put("/admin/plans/tech", json={"name": "Sharp Tech", "shows": ["sharp-tech"]})
    send(admin, event("created", 100, plan="tech"))
    send(admin, event("past_due", 200))
    past_due = feed_path(subscriber(admin), "sharp-tech")
    plain = feed_path(subscribe(admin, "fan@example.com", "sharp-tech"), "sharp-tech")
    assert titles(served(admin, past_due))[0].startswith("Payment problem")
    documents = admin.app.state.stages.documents  # type: ignore[attr-defined]
    variants = len(documents._documents)

    upload(admin, "sharp-tech", title="One", publish=True)
    served(admin, plain)  # the past-due variant was asked for at the last version: kept
    assert len(documents._documents) == variants
    upload(admin, "sharp-tech", title="Two", publish=True)
    served(admin, plain)  # not asked for during the last version: dropped
    assert len(documents._documents) == variants - 1
    assert "show %s: %d unused feed variants dropped" in [r.msg for r in caplog.records]
    assert titles(served(admin, past_due))[:2] == [  # and built again when asked
        "Payment problem — update your card at https://example.com/renew",
        "Two",
    ]
