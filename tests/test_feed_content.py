"""Feeds every app accepts: Apple's tags and Podcasting 2.0, read by three real parsers."""

import uuid
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient

from app import images
from app.core.config import Settings
from tests.conftest import M4A, SHOW, feed_path, stored_files, subscribe, upload
from tests.media import chaptered_mp3, image
from tests.parsers import gpodder, partytime, universal

VTT = b"WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nWelcome to Sharp Tech.\n"


def local(url: str) -> str:
    return url.removeprefix("http://testserver")


@pytest.fixture
def rich_show(admin: TestClient, show: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A show with artwork and hosts, and an episode with everything an episode can have."""
    patched = admin.patch(
        "/admin/shows/sharp-tech",
        json={
            "itunes_type": "serial",
            "category": "Technology",
            "people": [
                {"name": "Ben Thompson", "role": "host", "href": "https://stratechery.com"},
                {"name": "Andrew Sharp"},
            ],
        },
    )
    assert patched.status_code == 200, patched.text
    art = admin.put(
        "/admin/shows/sharp-tech/artwork", files={"image": ("art.png", image(1400), "image/png")}
    )
    assert art.status_code == 200, art.text
    audio = chaptered_mp3(
        tmp_path, [(0, "Intro"), (1500, "Apple & <Google>")], cover=image(1500, color="navy")
    )
    episode = upload(
        admin,
        "sharp-tech",
        audio,
        title="Chaptered",
        publish=True,
        show_notes="<p>Notes with <b>HTML</b> &amp; more</p>",
        season=2,
        number=9,
        episode_type="full",
    ).json()
    transcript = admin.put(
        f"/admin/episodes/{episode['id']}/transcript",
        files={"transcript": ("t.vtt", VTT, "text/vtt")},
    )
    assert transcript.status_code == 200, transcript.text
    people = admin.patch(
        f"/admin/episodes/{episode['id']}", json={"people": [{"name": "A Guest", "role": "guest"}]}
    )
    assert people.status_code == 200, people.text
    return {"episode": people.json(), "show": art.json()}


def test_every_parser_sees_the_whole_feed(
    admin: TestClient, rich_show: dict[str, Any], settings: Settings
) -> None:
    episode = rich_show["episode"]
    subscriber = subscribe(admin, "rich@example.com", "sharp-tech")
    body = admin.get(feed_path(subscriber, "sharp-tech")).content
    canonical = f"{settings.public_base_url}/shows/sharp-tech/feed.xml"
    expected_guid = str(
        uuid.uuid5(uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6"), canonical.split("://", 1)[1])
    )

    pi = partytime(body)
    assert pi["title"] == "Sharp Tech"
    assert pi["guid"] == expected_guid
    assert pi["locked"] is True
    assert pi["podcastOwner"] == "podcasts@example.com"
    assert pi["itunesType"] == "serial"
    assert pi["itunesImage"].endswith("/shows/sharp-tech/artwork.png")
    assert [p["name"] for p in pi["podcastPeople"]] == ["Ben Thompson", "Andrew Sharp"]
    assert pi["podcastBlocked"] == "yes"
    (item,) = pi["items"]
    assert item["guid"] == episode["guid"]
    assert item["enclosure"]["length"] == episode["audio_size"]
    assert item["itunesSeason"] == 2
    assert item["itunesEpisode"] == 9
    assert item["podcastChapters"]["type"] == "application/json+chapters"
    (transcript,) = item["podcastTranscripts"]
    assert transcript["type"] == "text/vtt"
    assert item["itunesImage"].endswith(f"/{episode['id']}/artwork.png")
    assert [p["name"] for p in item["podcastPeople"]] == ["A Guest"]

    feed = universal(body)
    assert feed.feed.image.href.endswith("/shows/sharp-tech/artwork.png")
    entry = feed.entries[0]
    assert entry.content[0].value == "<p>Notes with <b>HTML</b> &amp; more</p>"
    assert entry.itunes_duration == str(round(episode["duration_seconds"]))
    assert "<![CDATA[<p>Notes with" in body.decode()

    gp = gpodder(body)
    assert gp["cover_url"].endswith("/shows/sharp-tech/artwork.png")
    # gPodder's parser knows the Podcasting 2.0 tags only under the namespace's old GitHub
    # URI, not the canonical one we declare, so it is checked for the Apple tags alone.
    (gp_episode,) = gp["episodes"]
    assert gp_episode["episode_art_url"].endswith(f"/{episode['id']}/artwork.png")
    assert gp_episode["total_time"] == round(episode["duration_seconds"])

    # The files behind the URLs, fetched with the subscriber's token.
    chapters = admin.get(local(item["podcastChapters"]["url"]))
    assert chapters.headers["content-type"] == "application/json+chapters"
    assert chapters.json() == {
        "version": "1.2.0",
        "chapters": [
            {"startTime": 0.0, "title": "Intro"},
            {"startTime": 1.5, "title": "Apple & <Google>"},
        ],
    }
    vtt = admin.get(local(transcript["url"]))
    assert vtt.content == VTT
    assert vtt.headers["content-type"].startswith("text/vtt")
    art = admin.get(local(item["itunesImage"]))
    assert art.content == image(1500, color="navy")  # the file's own cover art
    show_art = admin.get(local(pi["itunesImage"]))
    assert show_art.content == image(1400)


def test_paid_files_follow_the_subscription(admin: TestClient, rich_show: dict[str, Any]) -> None:
    subscriber = subscribe(admin, "paid@example.com", "sharp-tech")
    item = partytime(admin.get(feed_path(subscriber, "sharp-tech")).content)["items"][0]
    chapters_url = local(item["podcastChapters"]["url"])
    assert admin.get(chapters_url).status_code == 200
    admin.post(f"/admin/subscribers/{subscriber['id']}/lapse")
    assert admin.get(chapters_url).status_code == 403
    admin.post(f"/admin/subscribers/{subscriber['id']}/revoke")
    assert admin.get(chapters_url).status_code == 410


def test_uploaded_chapters_replace_the_files_own(
    admin: TestClient, rich_show: dict[str, Any]
) -> None:
    episode = rich_show["episode"]
    document = {
        "version": "1.2.0",
        "chapters": [
            {"startTime": 0, "title": "Cold open"},
            {"startTime": 1.2, "title": "Chart", "img": "https://example.com/chart.png"},
        ],
    }
    response = admin.put(f"/admin/episodes/{episode['id']}/chapters", json=document)
    assert response.status_code == 200, response.text
    assert response.json()["chapters"]["chapters"][1]["img"] == "https://example.com/chart.png"
    out_of_order = {"chapters": [{"startTime": 5, "title": "b"}, {"startTime": 1, "title": "a"}]}
    refused = admin.put(f"/admin/episodes/{episode['id']}/chapters", json=out_of_order)
    assert refused.status_code == 422
    assert "order" in str(refused.json()["detail"])


def test_article_narration_carries_the_article(admin: TestClient, show: dict[str, Any]) -> None:
    text = "First paragraph with <angle> & ampersand.\n\nSecond paragraph. ]]> tricky."
    article = upload(
        admin,
        "sharp-tech",
        M4A,
        title="Listen: The End of the Beginning",
        kind="article",
        article_url="https://stratechery.com/2026/post/",
        article_text=text,
        show_notes="<p>Narrated by Ben. Discuss it in the <b>forum</b>.</p>",
        publish=True,
    )
    assert article.status_code == 201, article.text
    admin.put(
        f"/admin/episodes/{article.json()['id']}/artwork",
        files={"image": ("chart.jpg", image(1400, kind="JPEG"), "image/jpeg")},
    )
    subscriber = subscribe(admin, "reader@example.com", "sharp-tech")
    body = admin.get(feed_path(subscriber, "sharp-tech")).content
    entry = universal(body).entries[0]
    assert entry.link == "https://stratechery.com/2026/post/"
    notes = "<p>Narrated by Ben. Discuss it in the <b>forum</b>.</p>"
    assert entry.summary == notes
    # Apps that prefer content:encoded (gPodder, feedparser's readers) show it alone: the
    # show notes, then the article.
    full = (
        f"{notes}<hr>"
        "<p>First paragraph with &lt;angle&gt; &amp; ampersand.</p>"
        "<p>Second paragraph. ]]&gt; tricky.</p>"
    )
    assert entry.content[0].value == full.replace("<hr>", "<hr />")  # feedparser's XHTML
    assert gpodder(body)["episodes"][0]["description_html"] == full
    item = partytime(body)["items"][0]
    assert item["itunesImage"].endswith("/artwork.jpg")
    assert item["link"] == "https://stratechery.com/2026/post/"
    assert notes in item["content"]


def test_a_show_made_through_the_api_links_its_page_and_shows_a_title_card(
    admin: TestClient, settings: Settings
) -> None:
    created = admin.post("/admin/shows", json={k: v for k, v in SHOW.items() if k != "link"})
    assert created.status_code == 201, created.text
    page = "http://testserver/shows/sharp-tech"
    assert created.json()["link"] == page
    assert created.json()["artwork_key"] is None  # nothing uploaded
    upload(admin, "sharp-tech", title="Free", publish=True, free=True)
    body = admin.get("/shows/sharp-tech/feed.xml").content
    card_url = f"{page}/artwork.png"
    assert partytime(body)["itunesImage"] == card_url
    assert gpodder(body)["cover_url"] == card_url
    assert universal(body).feed.image.href == card_url
    assert universal(body).feed.link == page

    card = admin.get(local(card_url))
    assert card.status_code == 200
    assert card.headers["content-type"] == "image/png"
    # The seeded shows' card, drawn in the publisher's colour; artwork apps accept.
    assert card.content == images.title_card("Sharp Tech", settings.publisher_colour)
    assert images.probe_artwork(card.content, "card.png").width == images.MIN_SIDE
    etag = card.headers["etag"]
    assert admin.get(local(card_url), headers={"If-None-Match": etag}).status_code == 304
    assert admin.head(local(card_url)).status_code == 200

    admin.patch("/admin/shows/sharp-tech", json={"title": "Sharp Tech Daily"})
    renamed = admin.get(local(card_url))
    assert renamed.content == images.title_card("Sharp Tech Daily", settings.publisher_colour)
    assert renamed.headers["etag"] != etag

    art = admin.put(
        "/admin/shows/sharp-tech/artwork", files={"image": ("a.jpg", image(1400, kind="JPEG"), "x")}
    )
    assert art.status_code == 200, art.text
    body = admin.get("/shows/sharp-tech/feed.xml").content
    assert partytime(body)["itunesImage"] == f"{page}/artwork.jpg"
    assert admin.get(local(card_url)).status_code == 404


@pytest.mark.parametrize(
    ("picture", "filename", "status", "phrase"),
    [
        (image(1400, 1500), "tall.png", 422, "must be square"),
        (image(600), "small.png", 422, "between 1400x1400 and 3000x3000"),
        (image(1400, kind="GIF"), "anim.gif", 415, "must be JPEG or PNG"),
        (b"not an image", "art.png", 415, "not a JPEG or PNG"),
    ],
)
def test_bad_artwork_is_refused(
    admin: TestClient,
    show: dict[str, Any],
    settings: Settings,
    picture: bytes,
    filename: str,
    status: int,
    phrase: str,
) -> None:
    response = admin.put(
        "/admin/shows/sharp-tech/artwork", files={"image": (filename, picture, "image/png")}
    )
    assert response.status_code == status, response.text
    assert phrase in response.json()["detail"]
    assert stored_files(settings) == []


def test_replacing_artwork_removes_the_old_file(
    admin: TestClient, show: dict[str, Any], settings: Settings
) -> None:
    first = admin.put(
        "/admin/shows/sharp-tech/artwork", files={"image": ("a.png", image(1400), "image/png")}
    ).json()
    second = admin.put(
        "/admin/shows/sharp-tech/artwork",
        files={"image": ("b.jpg", image(2000, kind="JPEG"), "image/jpeg")},
    ).json()
    assert first["artwork_key"] != second["artwork_key"]
    assert [p.name for p in stored_files(settings)] == [Path(second["artwork_key"]).name]


@pytest.mark.parametrize(
    ("filename", "data", "status"),
    [
        ("t.vtt", b"00:00:00.000 --> 00:00:01.000\nno header\n", 422),
        ("t.srt", b"just words, no timings", 422),
        ("t.pdf", b"%PDF", 415),
        ("t.txt", b"\xff\xfe\x00bad", 422),
    ],
)
def test_bad_transcripts_are_refused(
    admin: TestClient, show: dict[str, Any], filename: str, data: bytes, status: int
) -> None:
    episode = upload(admin, "sharp-tech", title="T").json()
    response = admin.put(
        f"/admin/episodes/{episode['id']}/transcript",
        files={"transcript": (filename, data, "text/plain")},
    )
    assert response.status_code == status, response.text
    assert admin.get(f"/admin/episodes/{episode['id']}").json()["transcript_type"] is None


def test_categories_come_from_apples_list(admin: TestClient, show: dict[str, Any]) -> None:
    wrong = admin.patch("/admin/shows/sharp-tech", json={"category": "Tech"})
    assert wrong.status_code == 422
    assert "Technology" in str(wrong.json()["detail"])
    mismatched = admin.patch(
        "/admin/shows/sharp-tech", json={"category": "News", "subcategory": "Basketball"}
    )
    assert mismatched.status_code == 422
    fine = admin.patch(
        "/admin/shows/sharp-tech", json={"category": "News", "subcategory": "Tech News"}
    )
    assert fine.status_code == 200
    category = universal(admin.get("/shows/sharp-tech/feed.xml").content).feed.tags
    assert {"term": "Tech News", "scheme": "http://www.itunes.com/", "label": None} in category


def test_public_feed_carries_only_free_episodes(admin: TestClient, show: dict[str, Any]) -> None:
    free = upload(admin, "sharp-tech", title="Free one", free=True, publish=True).json()
    paid = upload(admin, "sharp-tech", title="Paid one", publish=True).json()
    response = admin.get("/shows/sharp-tech/feed.xml", headers={"Authorization": ""})
    assert response.status_code == 200
    assert "private" not in response.headers["cache-control"]
    body = response.content
    assert b"itunes:block" not in body
    assert b"podcast:block" not in body
    pi = partytime(body)
    assert [i["guid"] for i in pi["items"]] == [free["guid"]]
    audio = local(pi["items"][0]["enclosure"]["url"])
    assert audio == f"/shows/sharp-tech/episodes/{free['id']}.mp3"
    assert admin.get(audio, headers={"Range": "bytes=0-1"}).status_code == 206
    assert admin.get(f"/shows/sharp-tech/episodes/{paid['id']}.mp3").status_code == 404
    # The same show's podcast:guid in the public and the private feeds.
    subscriber = subscribe(admin, "both@example.com", "sharp-tech")
    private = partytime(admin.get(feed_path(subscriber, "sharp-tech")).content)
    assert private["guid"] == pi["guid"]
    assert {i["guid"] for i in private["items"]} == {free["guid"], paid["guid"]}
    assert admin.get("/shows/nope/feed.xml").status_code == 404


def test_long_archives_are_paged(admin: TestClient, show: dict[str, Any]) -> None:
    guids = [
        upload(
            admin,
            "sharp-tech",
            title=f"Day {i}",
            publish=True,
            published_at=f"2026-01-0{i + 1}T06:00:00Z",
        ).json()["guid"]
        for i in range(5)
    ]
    admin.patch("/admin/shows/sharp-tech", json={"feed_limit": 2})
    subscriber = subscribe(admin, "archive@example.com", "sharp-tech")
    url = feed_path(subscriber, "sharp-tech")
    seen: list[str] = []
    pages = 0
    while url:
        body = admin.get(url).content
        parsed = universal(body)
        seen += [e.id for e in parsed.entries]
        if pages:
            assert b"<fh:archive/>" in body
            assert any(link.rel == "current" for link in parsed.feed.links)
        older = [link.href for link in parsed.feed.links if link.rel == "next"]
        prev_archive = [link.href for link in parsed.feed.links if link.rel == "prev-archive"]
        assert older == prev_archive
        url = local(older[0]) if older else ""
        pages += 1
    assert pages == 3  # the main feed, then two archive pages
    assert seen == list(reversed(guids))
    assert (
        admin.get(
            feed_path(subscriber, "sharp-tech").replace("feed.xml", "archive/9.xml")
        ).status_code
        == 404
    )
    admin.patch("/admin/shows/sharp-tech", json={"feed_limit": 0})
    assert len(universal(admin.get(feed_path(subscriber, "sharp-tech")).content).entries) == 5


def test_a_bundle_in_one_opml_file(admin: TestClient, show: dict[str, Any]) -> None:
    admin.post("/admin/shows", json={**show_json("goat", "Greatest of All Talk")})
    subscriber = subscribe(admin, "bundle@example.com", "sharp-tech", "goat")
    response = admin.get(feed_path(subscriber, "sharp-tech").replace("feed.xml", "all.opml"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/x-opml")
    outlines = ElementTree.fromstring(response.content).findall("./body/outline")
    assert [(o.get("text"), o.get("xmlUrl")) for o in outlines] == [
        (f["title"], f["feed_url"]) for f in subscriber["feeds"]
    ]


def show_json(slug: str, title: str) -> dict[str, str]:
    return {
        "slug": slug,
        "title": title,
        "description": "d",
        "author": "a",
        "owner_name": "o",
        "owner_email": "o@example.com",
        "link": f"https://example.com/{slug}",
    }
