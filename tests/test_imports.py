"""Moving a publisher in: a back catalogue from a real HTTP server (killed halfway and
resumed), subscribers from CSV, and their old feed URLs answering 301."""

import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import feedparser
import podcastparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.core.clock import utcnow
from app.core.config import Settings
from app.core.db.engine import Database, build_engine
from app.core.db.session import transaction
from app.imports import catalogue, subscriber_csv
from app.imports.schemas import FeedImport
from app.imports.source import FeedError, Source
from app.models import Episode, OutboxMessage, Subscriber
from app.storage.local import LocalStorage
from tests.conftest import SHOW, create_show, empty_tables, server_env, stored_files, upload
from tests.media import chaptered_mp3, image
from tests.servers import FeedHost

USER, PASSWORD = "importer", "s3cret pass"
OLD_DATES = [
    "Mon, 02 Jan 2023 06:00:00 +0000",
    "Mon, 09 Jan 2023 06:00:00 +0000",
    "Mon, 16 Jan 2023 06:00:00 +0000",
    "Mon, 23 Jan 2023 06:00:00 +0000",
]
GUIDS = [f"https://old.example.com/?p={n}&post_type=episode-with-a-long-guid" for n in (1, 2, 3, 4)]
CHAPTERS = {"version": "1.2.0", "chapters": [{"startTime": 0, "title": "Intro"}]}
VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello.\n"


def _mp3(tmp: Path, n: int) -> bytes:
    """A distinct real MP3 per episode (its own embedded chapter)."""
    directory = tmp / str(n)
    directory.mkdir()
    return chaptered_mp3(directory, [(0, f"Part {n}")]).read_bytes()


def _item(n: int) -> str:
    return f"""<item><guid isPermaLink="false">{GUIDS[n - 1].replace("&", "&amp;")}</guid>
<title>Episode {n}</title><pubDate>{OLD_DATES[n - 1]}</pubDate>
<description>&lt;p&gt;Notes for &lt;b&gt;episode {n}&lt;/b&gt;&lt;/p&gt;</description>
<itunes:episode>{n}</itunes:episode><itunes:season>1</itunes:season>
<itunes:image href="/art/{n}.png"/>
<podcast:chapters url="/chapters/{n}.json" type="application/json+chapters"/>
<podcast:transcript url="/transcripts/{n}.vtt" type="text/vtt"/>
<enclosure url="/audio/{n}.mp3" length="1" type="audio/mpeg"/></item>"""


def _feed(body: str, older: str | None = None) -> bytes:
    link = f'<atom:link rel="prev-archive" href="{older}"/>' if older else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"
 xmlns:podcast="https://podcastindex.org/namespace/1.0" xmlns:atom="http://www.w3.org/2005/Atom">
<channel><title>Old host</title><link>https://old.example.com</link>{link}
{body}</channel></rss>""".encode()


def _page(items: list[int], older: str | None) -> bytes:
    return _feed("".join(_item(n) for n in items), older)


@pytest.fixture
def feed_host(tmp_path: Path) -> Any:
    files: dict[str, tuple[bytes, str]] = {
        "/feed.xml": (_page([4, 3], "/archive/1.xml"), "application/rss+xml"),
        "/archive/1.xml": (_page([2, 1], None), "application/rss+xml"),
    }
    for n in (1, 2, 3, 4):
        files[f"/audio/{n}.mp3"] = (_mp3(tmp_path, n), "audio/mpeg")
        files[f"/art/{n}.png"] = (image(color=["red", "green", "blue", "teal"][n - 1]), "image/png")
        files[f"/chapters/{n}.json"] = (json.dumps(CHAPTERS).encode(), "application/json")
        files[f"/transcripts/{n}.vtt"] = (VTT.encode(), "text/vtt")
    with FeedHost(files, USER, PASSWORD) as host:
        yield host


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _snapshot(settings: Settings) -> dict[str, Any]:
    """What an import leaves: episode rows (without ids and keys), and every stored byte."""
    db = Database(build_engine(settings.database_url))
    root = settings.audio_dir
    with transaction(db.reader) as session:
        rows = session.scalars(select(Episode).order_by(Episode.guid)).all()
        episodes = [
            {
                "guid": e.guid,
                "title": e.title,
                "notes": e.show_notes,
                "published_at": e.published_at,
                "status": e.status,
                "free": e.free,
                "number": e.number,
                "season": e.season,
                "size": e.audio_size,
                "duration": e.duration_seconds,
                "chapters": e.chapters,
                "transcript": (e.transcript, e.transcript_type),
                "audio": _sha((root / e.audio_key).read_bytes()),
                "artwork": _sha((root / e.artwork_key).read_bytes()) if e.artwork_key else None,
            }
            for e in rows
        ]
    db.engine.dispose()
    stored = sorted(_sha(p.read_bytes()) for p in root.rglob("*") if p.is_file())
    return {"episodes": episodes, "stored": stored}


def _command(settings: Settings, *args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", "import", *args]


def test_a_killed_import_resumes_to_the_same_catalogue(
    admin: TestClient, settings: Settings, feed_host: FeedHost
) -> None:
    env = server_env(settings) | {"PODPASS_BASE_URL": "http://testserver"}
    source = feed_host.url("/feed.xml", user=USER, password=PASSWORD)
    command = _command(settings, "feed", "--show", SHOW["slug"], source)
    create_show(admin)
    whole = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert "4 episode(s) imported" in whole.stdout
    uninterrupted = _snapshot(settings)
    assert [e["guid"] for e in uninterrupted["episodes"]] == sorted(GUIDS)
    assert len(uninterrupted["stored"]) == 8  # audio and artwork, nothing else

    empty_tables(settings.database_url)
    shutil.rmtree(settings.audio_dir)
    create_show(admin)
    feed_host.stall_at = feed_host.audio_requests + 3  # the third episode's download hangs
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL) as process:
        assert feed_host.stalled.wait(60)
        process.kill()  # mid-download: SIGKILL, no clean-up of its own
    halfway = _snapshot(settings)
    assert len(halfway["episodes"]) == 2  # the two oldest, whole; the third not at all
    assert len(halfway["stored"]) == 4  # theirs, and no orphan

    feed_host.stall_at = None
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "2 episode(s) imported, 2 already here" in resumed.stdout
    assert _snapshot(settings) == uninterrupted

    # The show's feed carries the original GUIDs, dates and numbers.
    subscriber = admin.post(
        "/admin/subscribers", json={"email": "a@example.com", "shows": [SHOW["slug"]]}
    ).json()
    feed = admin.get(subscriber["feeds"][0]["feed_url"])
    parsed = podcastparser.parse("feed.xml", io.BytesIO(feed.content))
    assert [e["guid"] for e in parsed["episodes"]] == GUIDS[::-1]
    assert [e["number"] for e in parsed["episodes"]] == [4, 3, 2, 1]
    # podcastparser does not read the Podcasting 2.0 namespace; feedparser does.
    newest = feedparser.parse(feed.content).entries[0]
    assert newest.podcast_transcript["url"].endswith("/transcript.vtt")
    assert newest.podcast_chapters["url"].endswith("/chapters.json")
    # Old dates are not news: no new-episode mail or webhook was queued.
    queued = [m["payload"]["template"] for m in admin.get("/admin/outbox").json()]
    assert queued == ["welcome"]  # the subscriber made above


def _db(settings: Settings) -> Database:
    return Database(build_engine(settings.database_url))


def test_a_failed_download_is_retried_and_reported_never_half_recorded(
    admin: TestClient, settings: Settings, feed_host: FeedHost
) -> None:
    create_show(admin)
    feed_host.failures = {"/audio/1.mp3": 2, "/audio/2.mp3": 99}
    slept: list[float] = []
    db, storage = _db(settings), LocalStorage(settings.audio_dir)
    source = Source(feed_host.url("/feed.xml", user=USER, password=PASSWORD))
    retries = catalogue.Retries(sleep=slept.append)
    report = catalogue.import_feed(
        db,
        storage,
        source,
        SHOW["slug"],
        public=False,
        max_bytes=2**30,
        clock=utcnow,
        retries=retries,
    )
    assert len(report.imported) == 3
    assert slept == [2.0, 4.0, 2.0, 4.0]
    [failure] = report.failed
    assert GUIDS[1] in failure
    assert "503" in failure
    assert "tried 3 times" in failure
    assert len(list(storage.objects())) == 6  # no audio or artwork of the failed one
    feed_host.failures = {}
    again = catalogue.import_feed(
        db, storage, source, SHOW["slug"], public=False, max_bytes=2**30, clock=utcnow
    )
    assert (len(again.imported), len(again.skipped), again.failed) == (1, 3, [])
    db.engine.dispose()


def test_a_private_source_needs_its_credentials(settings: Settings, feed_host: FeedHost) -> None:
    with pytest.raises(FeedError, match="401"):  # no retry brings the password
        list(Source(feed_host.url("/feed.xml")).pages())


CSV_HEADER = "email,external_id,shows,status,old_url:sharp-tech\n"


def _import_csv(settings: Settings, text: str, *, welcome: bool = False) -> Any:
    db = _db(settings)
    try:
        with transaction(db.writer) as session:
            return subscriber_csv.import_subscribers(session, text, welcome=welcome, now=utcnow())
    finally:
        db.engine.dispose()


def _count(settings: Settings, model: type[Any]) -> int:
    db = _db(settings)
    with transaction(db.reader) as session:
        count: int = session.scalar(select(func.count()).select_from(model)) or 0
    db.engine.dispose()
    return count


def test_imported_subscribers_keep_their_old_urls(
    admin: TestClient, settings: Settings, show: dict[str, Any]
) -> None:
    assert upload(admin, "sharp-tech", title="Now", publish=True).status_code == 201
    csv = CSV_HEADER + (
        "Ann@Example.com,cus_1,sharp-tech,active,https://old.example.com/feeds/ann.xml?t=abc\n"
        "bob@example.com,cus_2,sharp-tech,lapsed,https://old.example.com/feeds/bob.xml\n"
    )
    first = _import_csv(settings, csv)
    assert (first.created, first.updated, first.old_urls) == (2, 0, 2)
    again = _import_csv(settings, csv)
    assert (again.created, again.updated, again.old_urls) == (0, 2, 0)
    assert _count(settings, Subscriber) == 2
    assert _count(settings, OutboxMessage) == 0  # no welcome, no lapse email on import

    ann = admin.get("/admin/subscribers", params={"external_id": "cus_1"}).json()[0]
    old = "http://old.example.com/feeds/ann.xml?t=abc"
    moved = admin.get(old, follow_redirects=False)
    assert moved.status_code == 301
    assert moved.headers["location"] == ann["feeds"][0]["feed_url"]
    followed = admin.get(old, follow_redirects=True)
    parsed = podcastparser.parse(str(followed.url), io.BytesIO(followed.content))
    assert [e["title"] for e in parsed["episodes"]] == ["Now"]
    # Another host, or another query, is not Ann's old URL.
    assert admin.get("http://elsewhere.example/feeds/ann.xml?t=abc").status_code == 404
    assert admin.get("http://old.example.com/feeds/ann.xml").status_code == 404
    # Bob lapsed: his old URL leads to his feed, which shows the renewal notice.
    bob = admin.get("http://old.example.com/feeds/bob.xml", follow_redirects=True)
    assert "Subscription inactive" in bob.text

    admin.post(f"/admin/subscribers/{ann['id']}/revoke")
    assert admin.get(old, follow_redirects=False).status_code == 410
    admin.post(f"/admin/subscribers/{ann['id']}/reinstate")  # new URLs; the old one is dead
    assert admin.get(old, follow_redirects=False).status_code == 404
    _import_csv(settings, csv)  # a rerun does not bring it back
    assert admin.get(old, follow_redirects=False).status_code == 404


def test_a_bad_subscribers_file_imports_nothing(
    admin: TestClient, settings: Settings, show: dict[str, Any]
) -> None:
    csv = CSV_HEADER + (
        "ann@example.com,cus_1,sharp-tech,active,\n"
        "not-an-email,cus_2,sharp-tech,active,\n"
        "cat@example.com,cus_1,nosuchshow,paused,ftp://x\n"
        "ann@example.com,,,,\n"
    )
    with pytest.raises(subscriber_csv.ImportRefused) as refused:
        _import_csv(settings, csv)
    problems = "\n".join(refused.value.problems)
    assert "line 3: email" in problems
    assert "line 4: status" in problems
    assert "line 4: old_urls.sharp-tech" in problems
    assert "line 5: email ann@example.com is on line 2 too" in problems
    assert _count(settings, Subscriber) == 0
    with pytest.raises(subscriber_csv.ImportRefused, match="1 problem"):
        _import_csv(settings, "email,old_url:nope\n")


def test_a_moved_public_feed_answers_301_and_names_its_new_address(
    admin: TestClient, settings: Settings, feed_host: FeedHost
) -> None:
    create_show(admin)
    db = _db(settings)
    source = Source(feed_host.url("/feed.xml", user=USER, password=PASSWORD))
    catalogue.import_feed(
        db,
        LocalStorage(settings.audio_dir),
        source,
        SHOW["slug"],
        public=True,
        max_bytes=2**30,
        clock=utcnow,
    )
    db.engine.dispose()
    moved = admin.get(feed_host.url("/feed.xml"), follow_redirects=False)
    assert moved.status_code == 301
    public = admin.get(moved.headers["location"])
    parsed = podcastparser.parse(str(public.url), io.BytesIO(public.content))
    assert parsed["new_url"] == "http://testserver/shows/sharp-tech/feed.xml"
    assert len(parsed["episodes"]) == 4  # free: they were public
    assert admin.get("/no/such/page").json() == {"error": "http_error", "detail": "Not Found"}


def test_imported_members_keep_their_plan_and_the_day_they_joined(
    admin: TestClient, settings: Settings, show: dict[str, Any]
) -> None:
    for title in ("Older", "Newest"):
        assert upload(admin, "sharp-tech", title=title, publish=True).status_code == 201
    plan = {"name": "Lite", "shows": ["sharp-tech"]}
    latest = {"rule": "latest", "episodes": 1}
    admin.put("/admin/plans/lite", json=plan | {"back_catalogue": latest}).raise_for_status()
    admin.put("/admin/shows/sharp-tech/welcome", json={"days": 30}).raise_for_status()
    _import_csv(
        settings,
        "email,external_id,plan,joined\n"
        "old@example.com,cus_old,lite,2019-05-01\n"
        "new@example.com,cus_new,lite,\n",
    )

    def titles(external_id: str) -> list[str]:
        member = admin.get("/admin/subscribers", params={"external_id": external_id}).json()[0]
        feed = admin.get(member["feeds"][0]["feed_url"])
        parsed = podcastparser.parse("feed", io.BytesIO(feed.content))
        return [episode["title"] for episode in parsed["episodes"]]

    # The plan's rule holds for both; only the one who joined today is welcomed.
    assert titles("cus_old") == ["Newest"]
    assert [t for t in titles("cus_new") if not t.startswith("Welcome")] == ["Newest"]
    assert len(titles("cus_new")) == 2
    with pytest.raises(subscriber_csv.ImportRefused) as refused:
        _import_csv(
            settings, "email,joined\nlate@example.com,2999-01-01\nodd@example.com,last tuesday\n"
        )
    problems = refused.value.problems
    assert problems[0] == "line 2: joined 2999-01-01T00:00:00+00:00 is in the future"
    assert problems[1].startswith("line 3: joined: ")


def test_welcome_goes_to_active_members_only_and_names_title_their_feeds(
    admin: TestClient, settings: Settings, show: dict[str, Any]
) -> None:
    admin.patch("/admin/shows/sharp-tech", json={"personal_title": True}).raise_for_status()
    csv = (
        "email,name,shows,status\n"
        "ann@example.com,Ann Appleseed,sharp-tech,active\n"
        "bob@example.com,Bob Lapsed,sharp-tech,lapsed\n"
        "cat@example.com,,sharp-tech,revoked\n"
    )
    assert _import_csv(settings, csv, welcome=True).created == 3
    queued = [
        (m["payload"]["template"], m["payload"]["to"]) for m in admin.get("/admin/outbox").json()
    ]
    assert queued == [("welcome", "ann@example.com")]  # "your podcasts are ready": hers are

    def feed_title(email: str) -> str:
        member = admin.get("/admin/subscribers", params={"email": email}).json()[0]
        feed = admin.get(member["feeds"][0]["feed_url"])
        return str(podcastparser.parse("feed", io.BytesIO(feed.content))["title"])

    assert feed_title("ann@example.com") == "Sharp Tech (for Ann Appleseed)"
    # A blank cell keeps the name they have; a new one replaces it.
    _import_csv(settings, "email,name,shows\nann@example.com,,sharp-tech\n")
    assert feed_title("ann@example.com") == "Sharp Tech (for Ann Appleseed)"
    _import_csv(settings, "email,name,shows\nann@example.com,Ann Smith,sharp-tech\n")
    assert feed_title("ann@example.com") == "Sharp Tech (for Ann Smith)"


def _plain_item(guid: str, date: str | None, enclosure: str | None, extra: str = "") -> str:
    """An item as RSS 2.0 has it, without the parts this test does not need."""
    published = f"<pubDate>{date}</pubDate>" if date else ""
    audio = f'<enclosure url="{enclosure}" length="1" type="audio/mpeg"/>' if enclosure else ""
    title = f'<guid isPermaLink="false">{guid}</guid><title>{guid}</title>'
    return f"<item>{title}{published}{audio}{extra}</item>"


GONE_CHAPTERS = '<podcast:chapters url="/chapters/gone.json" type="application/json+chapters"/>'


def test_what_no_rerun_can_import_is_left_out_once_not_retried(
    admin: TestClient, settings: Settings, feed_host: FeedHost
) -> None:
    """Permanent failures are told apart from retryable ones, which
    test_a_failed_download_is_retried_and_reported_never_half_recorded covers."""
    create_show(admin)
    admin.post("/admin/shows", json=SHOW | {"slug": "other"}).raise_for_status()
    whole = feed_host.files["/audio/1.mp3"][0]
    feed_host.files["/audio/cut.mp3"] = (whole[: len(whole) // 2], "audio/mpeg")
    feed_host.files["/other.xml"] = (
        _feed(_plain_item("theirs", OLD_DATES[0], "/audio/2.mp3")),
        "application/rss+xml",
    )
    items = [
        _plain_item("fine", OLD_DATES[0], "/audio/1.mp3", extra=GONE_CHAPTERS),
        _plain_item("gone", OLD_DATES[1], "/audio/gone.mp3"),  # 404 at the old host
        _plain_item("silent", OLD_DATES[1], None),
        _plain_item("undated", None, "/audio/3.mp3"),
        _plain_item("cut", OLD_DATES[2], "/audio/cut.mp3"),  # cut short at the old host
        _plain_item("theirs", OLD_DATES[3], "/audio/4.mp3"),
    ]
    feed_host.files["/moving.xml"] = (_feed("".join(items)), "application/rss+xml")
    db = _db(settings)
    other = Source(feed_host.url("/other.xml", user=USER, password=PASSWORD))
    catalogue.import_feed(
        db,
        LocalStorage(settings.audio_dir),
        other,
        "other",
        public=False,
        max_bytes=2**30,
        clock=utcnow,
    )
    db.engine.dispose()

    env = server_env(settings) | {"PODPASS_BASE_URL": "http://testserver"}
    source = feed_host.url("/moving.xml", user=USER, password=PASSWORD)
    command = _command(settings, "feed", "--show", SHOW["slug"], source)
    for run, counts in (
        (1, "1 episode(s) imported, 0 already here"),
        (2, "0 episode(s) imported, 1 already here"),
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr  # nothing a rerun would change
        lines = done.stdout.splitlines()
        assert lines[-1] == f"{counts}, 5 left out (a rerun leaves them out too).", run
        assert "retry" not in done.stdout
        left_out = {line.split("'")[1]: line for line in lines if line.startswith("left out: ")}
        assert sorted(left_out) == ["cut", "gone", "silent", "theirs", "undated"]
        assert "answered 404 Not Found" in left_out["gone"]
        assert "no enclosure" in left_out["silent"]
        assert "no publication date" in left_out["undated"]
        assert "cut.mp3 is truncated" in left_out["cut"]
        assert "another show's episode" in left_out["theirs"]
        assert feed_host.requested.count("/audio/gone.mp3") == run  # once a run, no retries
        # A part its host no longer has is left out of an episode that is imported.
        gone = "note: 'fine' (fine): chapters left out: http://127.0.0.1"
        assert any(line.startswith(gone) for line in lines) == (run == 1)
    assert feed_host.requested.count("/chapters/gone.json") == 1


def _apple_sample_channel(artwork: str) -> str:
    """A channel as real publishers write it: Apple's own sample feed ("Hiking Treks", Apple
    Podcasts Connect's RSS Feed Sample, help.apple.com/itc/podcasts_connect/#/itcbaf351599),
    with the podcast:person examples of the Podcasting 2.0 namespace's specification
    (docs/tags/person.md in Podcastindex-org/podcast-namespace)."""
    return f"""<language>en-us</language>
<copyright>&#169; 2020 John Appleseed</copyright>
<itunes:author>The Sunset Explorers</itunes:author>
<description>
      Love to get outdoors and discover nature&apos;s treasures? Hiking Treks is the
      show for you. We review hikes and excursions, review outdoor gear and interview
      a variety of naturalists and adventurers. Look for new episodes each week.
</description>
<itunes:type>serial</itunes:type>
<itunes:owner>
  <itunes:name>Sunset Explorers</itunes:name>
  <itunes:email>mountainscape@icloud.com</itunes:email>
</itunes:owner>
<itunes:image href="{artwork}" />
<itunes:category text="Sports">
  <itunes:category text="Wilderness"/>
</itunes:category>
<itunes:explicit>false</itunes:explicit>
<podcast:person href="https://example.com/johnsmith/blog"
  img="http://example.com/images/johnsmith.jpg">John Smith</podcast:person>
<podcast:person role="guest" href="https://www.imdb.com/name/nm0427852888/"
  img="http://example.com/images/janedoe.jpg">Jane Doe</podcast:person>
<podcast:person group="visuals" role="Cover Art Designer"
  href="https://example.com/artist/beckysmith">Becky Smith</podcast:person>
"""


SAMPLE_DESCRIPTION = (
    "Love to get outdoors and discover nature's treasures? Hiking Treks is the show for you. "
    "We review hikes and excursions, review outdoor gear and interview a variety of "
    "naturalists and adventurers. Look for new episodes each week."
)
SAMPLE_ARTWORK = "/art/hiking_treks/artwork.jpg"


def _serve_sample(feed_host: FeedHost, artwork: bytes) -> None:
    feed_host.files[SAMPLE_ARTWORK] = (artwork, "image/jpeg")
    channel = _apple_sample_channel(feed_host.url(SAMPLE_ARTWORK))
    feed_host.files["/treks.xml"] = (_feed(channel + _item(1)), "application/rss+xml")


def _import_sample(settings: Settings, feed_host: FeedHost) -> FeedImport:
    db = _db(settings)
    source = Source(feed_host.url("/treks.xml", user=USER, password=PASSWORD))
    try:
        storage = LocalStorage(settings.audio_dir)
        return catalogue.import_feed(
            db, storage, source, SHOW["slug"], public=False, max_bytes=2**30, clock=utcnow
        )
    finally:
        db.engine.dispose()


def test_a_new_show_takes_its_artwork_description_category_and_people_from_the_feed(
    admin: TestClient, settings: Settings, feed_host: FeedHost
) -> None:
    # Created with no description and no category (so the default one): nothing of its own.
    bare = {k: v for k, v in SHOW.items() if k != "description"} | {"description": ""}
    admin.post("/admin/shows", json=bare).raise_for_status()
    artwork = image(1400, kind="JPEG", color="#2e6b30")
    _serve_sample(feed_host, artwork)

    report = _import_sample(settings, feed_host)
    assert report.notes == [
        "from the feed, the show's artwork, description, category (Sports/Wilderness), 3 people"
    ]
    show = admin.get("/admin/shows/sharp-tech").json()
    assert show["description"] == SAMPLE_DESCRIPTION
    assert (show["category"], show["subcategory"]) == ("Sports", "Wilderness")
    assert show["people"] == [
        {
            "name": "John Smith",
            "role": "host",
            "href": "https://example.com/johnsmith/blog",
            "img": "http://example.com/images/johnsmith.jpg",
        },
        {
            "name": "Jane Doe",
            "role": "guest",
            "href": "https://www.imdb.com/name/nm0427852888/",
            "img": "http://example.com/images/janedoe.jpg",
        },
        {
            "name": "Becky Smith",
            "role": "cover art designer",  # case-insensitive, says the namespace
            "group": "visuals",
            "href": "https://example.com/artist/beckysmith",
        },
    ]
    # The show's own feed now has what Apple asks for, read by a real parser.
    public = admin.get("/shows/sharp-tech/feed.xml")
    parsed = podcastparser.parse(str(public.url), io.BytesIO(public.content))
    assert parsed["itunes_categories"] == [["Sports", "Wilderness"]]
    assert parsed["description"] == SAMPLE_DESCRIPTION
    assert admin.get(parsed["cover_url"]).content == artwork

    # Imported, it is the show's own: a rerun neither fetches nor changes it.
    assert _import_sample(settings, feed_host).notes == []
    assert feed_host.requested.count(SAMPLE_ARTWORK) == 1
    assert admin.get("/admin/shows/sharp-tech").json() == show


def test_a_show_keeps_its_own_artwork_description_category_and_people(
    admin: TestClient, settings: Settings, feed_host: FeedHost
) -> None:
    create_show(admin)
    own = {"category": "News", "subcategory": "Tech News", "people": [{"name": "Ben Thompson"}]}
    admin.patch("/admin/shows/sharp-tech", json=own).raise_for_status()
    own_artwork = image(1400, color="navy")
    admin.put(
        "/admin/shows/sharp-tech/artwork", files={"image": ("own.png", own_artwork, "image/png")}
    ).raise_for_status()
    before = admin.get("/admin/shows/sharp-tech").json()
    _serve_sample(feed_host, image(1400, kind="JPEG"))

    report = _import_sample(settings, feed_host)
    assert len(report.imported) == 1
    assert report.notes == []
    after = admin.get("/admin/shows/sharp-tech").json()
    kept = ("description", "category", "subcategory", "people", "artwork_key")
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}
    assert SAMPLE_ARTWORK not in feed_host.requested
    assert admin.get("/shows/sharp-tech/artwork.png").content == own_artwork


def test_the_feeds_artwork_goes_through_the_upload_checks(
    admin: TestClient, settings: Settings, feed_host: FeedHost
) -> None:
    create_show(admin)
    small = image(600, kind="JPEG")  # what Apple asked for until 2012, still in old feeds
    _serve_sample(feed_host, small)

    report = _import_sample(settings, feed_host)
    [left_out] = [n for n in report.notes if n.startswith("the show's artwork was left out: ")]
    upload = admin.put(
        "/admin/shows/sharp-tech/artwork", files={"image": ("artwork.jpg", small, "image/jpeg")}
    )
    assert upload.status_code == 422
    assert upload.json()["detail"].rstrip(".") in left_out  # the same check, the same words
    assert "upload one (PUT /admin/shows/sharp-tech/artwork)" in left_out
    assert admin.get("/admin/shows/sharp-tech").json()["artwork_key"] is None
    assert all(path.read_bytes() != small for path in stored_files(settings))
