"""Counting downloads by the IAB v2.2 rules over a generated log, and the reports over them.

The expected numbers are computed here, in plain Python, from the rules as the issue states
them: never by running the rollup's SQL."""

import csv
import hashlib
import io
import ipaddress
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.analytics import service as analytics
from app.cli import main as cli
from app.core.clock import utcnow
from app.core.config import Settings
from app.core.db.engine import Database, build_engine
from app.core.db.session import transaction
from app.models import (
    Download,
    Episode,
    FeedAccess,
    ListenEvent,
    Role,
    SharingAlert,
    Show,
    Subscriber,
)
from app.sharing.schemas import Evidence, Reason
from tests.conftest import ADMIN_KEY, M4A, MP3, SECRET_KEY, Clock, upload

SATURDAY = date(2026, 11, 7)
DAYS = [SATURDAY + timedelta(days=n) for n in range(4)]  # Saturday to Tuesday
SUBSCRIBERS = 300
DOWNLOAD_FIELDS = (
    "day",
    "episode_id",
    "show_id",
    "ip_hash",
    "user_agent",
    "first_at",
    "token_id",
    "subscriber_id",
    "ip_prefix",
    "app",
    "device",
    "device_category",
)


@dataclass(frozen=True)
class Agent:
    user_agent: str  # {v}: the app's version, so people with one app differ a little
    app: str | None
    device: str | None
    device_category: str | None
    bot: bool = False


# From the OPAWG user-agents-v2 examples (app and device filled as the recorder would).
AGENTS = [
    Agent(
        "AppleCoreMedia/1.0.0.{v} (iPhone; U; CPU OS 17_4 like Mac OS X; en_us)",
        "Apple Podcasts",
        "iPhone",
        "mobile",
    ),
    Agent("Overcast/3.0 (+http://overcast.fm/; iOS podcast app) {v}", "Overcast", None, None),
    Agent("PocketCasts/1.0 (Pocket Casts Feed Parser; {v})", "Pocket Casts", None, None),
    Agent("Spotify/8.9.{v} Android/34 (SM-S918B)", "Spotify", "Android phone", "mobile"),
    Agent("Castro 2024.{v}/1234 CFNetwork/1494.0.7 Darwin/23.4.0", "Castro", "iPhone", "mobile"),
    Agent("AntennaPod/3.{v}", "AntennaPod", "Android phone", "mobile"),
    Agent(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.{v}",
        "Safari",
        "Mac",
        "computer",
    ),
    Agent("Echo/1.0 (Alexa Media Player {v})", "Alexa-enabled device", "Amazon Echo", "speaker"),
    Agent("MyHomebrewPlayer/0.{v}", None, None, None),
]
BOTS = [
    Agent("Googlebot/2.1 (+http://www.google.com/bot.html) {v}", "Googlebot", None, None, True),
    Agent("python-requests/2.{v}", "python-requests", None, None, True),
]


@dataclass(frozen=True)
class Listener:
    subscriber_id: int | None
    token_id: str | None
    show_id: int
    agent: Agent
    user_agent: str
    ip: str


def ip_hash(ip: str) -> str:
    """As the recorder hashes: IPv6 cut to /64 first (the salt does not matter here)."""
    address = ipaddress.ip_address(ip)
    key = str(ipaddress.ip_network(f"{ip}/64", strict=False)) if address.version == 6 else ip
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def ip_prefix(ip: str) -> str:
    length = 24 if ipaddress.ip_address(ip).version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{length}", strict=False))


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(build_engine(settings.database_url))
    yield database
    database.engine.dispose()


def make_show(session: Session, slug: str) -> Show:
    show = Show(
        slug=slug,
        title=slug.title(),
        description="",
        author="Ben",
        owner_name="Ben",
        owner_email="ben@example.com",
        language="en",
        category="Technology",
        link=f"https://example.com/{slug}",
    )
    session.add(show)
    session.flush()
    return show


def make_episode(
    session: Session, show: Show, *, bitrate: int, seconds: float, offset: int
) -> Episode:
    """An episode whose file is `offset` bytes of tags, then `seconds` of audio at `bitrate`
    (or, with bitrate 0, a file that stated none, here 64 kbit/s)."""
    bits_per_second = bitrate or 64_000
    episode = Episode(
        show_id=show.id,
        title=f"Episode at {bitrate} bit/s",
        status="published",
        published_at=datetime(2026, 11, 1, tzinfo=UTC),
        audio_key=f"episodes/{bitrate}-{seconds}.mp3",
        audio_mime="audio/mpeg",
        audio_size=offset + int(bits_per_second / 8 * seconds),
        audio_offset=offset,
        duration_seconds=seconds,
        bitrate=bitrate,
    )
    session.add(episode)
    session.flush()
    return episode


@dataclass(frozen=True)
class File:
    """What the rules need of an episode, read from its row."""

    id: int
    show_id: int
    size: int
    offset: int
    bytes_per_minute: Fraction
    title: str

    @classmethod
    def of(cls, episode: Episode) -> "File":
        audio = episode.audio_size - episode.audio_offset
        bits = (
            Fraction(episode.bitrate)
            if episode.bitrate
            else Fraction(audio * 8) / Fraction(episode.duration_seconds)
        )
        return cls(
            episode.id,
            episode.show_id,
            episode.audio_size,
            episode.audio_offset,
            bits / 8 * 60,
            episode.title,
        )


def is_download(event: dict[str, Any], file: File) -> bool:
    """IAB v2.2: a GET of the audio that the server answered (200, 206, or a 302 to S3), not a
    bot, not the bytes=0-1 probe, whose range holds a minute of audio (after the tags), or
    reaches the end of a file holding less than a minute."""
    if event["kind"] != "audio" or event["method"] != "GET" or event["bot"]:
        return False
    if event["status"] not in (200, 206, 302):
        return False
    start, end = event["range_start"], event["range_end"]
    if (start, end) == (0, 1):
        return False
    last_byte = file.size - 1
    if start is None and end is None:
        first, last = 0, last_byte
    elif start is None:  # bytes=-N: the last N bytes
        first, last = file.size - end, last_byte
    else:
        first, last = start, last_byte if end is None else min(end, last_byte)
    audio_asked = last - max(first, file.offset) + 1
    short_file = file.size - file.offset < file.bytes_per_minute
    return audio_asked >= file.bytes_per_minute or (last == last_byte and short_file)


def expected_downloads(
    events: list[dict[str, Any]], files: dict[int, File]
) -> set[tuple[Any, ...]]:
    firsts: dict[tuple[Any, ...], dict[str, Any]] = {}
    for event in events:
        if event["episode_id"] is None or not is_download(event, files[event["episode_id"]]):
            continue
        key = (event["at"].date(), event["episode_id"], event["ip_hash"], event["user_agent"])
        first = firsts.get(key)
        if first is None or (event["at"], event["id"]) < (first["at"], first["id"]):
            firsts[key] = event
    return {
        (
            day,
            episode_id,
            files[episode_id].show_id,
            ip,
            agent,
            event["at"],
            event["token_id"],
            event["subscriber_id"],
            event["ip_prefix"],
            event["app"],
            event["device"],
            event["device_category"],
        )
        for (day, episode_id, ip, agent), event in firsts.items()
    }


class Log:
    """A realistic generated log, with every event a known id."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.events: list[dict[str, Any]] = []
        self.reasons: dict[str, int] = defaultdict(int)

    def add(
        self,
        listener: Listener,
        at: datetime,
        *,
        kind: str = "audio",
        episode: File | None = None,
        method: str = "GET",
        status: int = 200,
        byte_range: tuple[int | None, int | None] = (None, None),
        reason: str,
    ) -> None:
        self.reasons[reason] += 1
        self.events.append(
            {
                "id": len(self.events) + 1,
                "at": at,
                "kind": kind,
                "token_id": listener.token_id,
                "subscriber_id": listener.subscriber_id,
                "show_id": listener.show_id,
                "episode_id": episode.id if episode else None,
                "status": status,
                "method": method,
                "range_start": byte_range[0],
                "range_end": byte_range[1],
                "user_agent": listener.user_agent,
                "ip_hash": ip_hash(listener.ip),
                "ip_prefix": ip_prefix(listener.ip),
                "app": listener.agent.app,
                "device": listener.agent.device,
                "device_category": listener.agent.device_category,
                "bot": listener.agent.bot,
            }
        )

    def moment(self) -> datetime:
        day = self.rng.choice(DAYS)
        return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            seconds=self.rng.randrange(86_400)
        )

    def listen(self, listener: Listener, file: File, at: datetime) -> None:
        """One app fetching one episode, the way apps do."""
        rng, minute = self.rng, int(file.bytes_per_minute)
        if rng.random() < 0.3:
            self.add(listener, at, episode=file, method="HEAD", reason="head")
        if rng.random() < 0.4:
            self.add(listener, at, episode=file, status=206, byte_range=(0, 1), reason="probe")
        later = at + timedelta(seconds=rng.randrange(1, 5))
        style = rng.randrange(10)
        if style == 0:  # the whole file
            self.add(listener, later, episode=file, reason="whole")
        elif style == 1:  # stored on S3: the redirect is the download
            self.add(listener, later, episode=file, status=302, reason="redirect")
        elif style == 2:  # from the start, open-ended
            self.add(listener, later, episode=file, status=206, byte_range=(0, None), reason="open")
        elif style == 3:  # less than a minute of audio
            end = file.offset + rng.randrange(1, minute - 1)
            self.add(listener, later, episode=file, status=206, byte_range=(0, end), reason="short")
        elif style == 4:  # a minute of bytes, but the tags make it less than a minute of audio
            self.add(
                listener,
                later,
                episode=file,
                status=206,
                byte_range=(0, minute - 1),
                reason="tags",
            )
        elif style == 5:  # exactly a minute of audio, after the tags
            start = file.offset + rng.randrange(0, max(file.size - file.offset - minute, 1))
            end = start + minute - 1
            self.add(
                listener, later, episode=file, status=206, byte_range=(start, end), reason="minute"
            )
        elif style == 6:  # a long range from the middle
            start = rng.randrange(file.offset, file.size // 2)
            end = start + minute * rng.randrange(2, 20)
            self.add(
                listener, later, episode=file, status=206, byte_range=(start, end), reason="long"
            )
        elif style == 7:  # the last N bytes
            suffix = rng.choice((minute // 3, minute * 3))
            self.add(
                listener,
                later,
                episode=file,
                status=206,
                byte_range=(None, suffix),
                reason="suffix",
            )
        elif style == 8:  # refused: lapsed, or a range past the end
            status = rng.choice((403, 404, 416))
            self.add(listener, later, episode=file, status=status, reason="refused")
        else:  # chunked download: many ranges; the repeats are one download
            step = minute * 2
            for n, start in enumerate(range(0, file.size, step)):
                end = min(start + step - 1, file.size - 1)
                moment = later + timedelta(seconds=n)
                self.add(
                    listener,
                    moment,
                    episode=file,
                    status=206,
                    byte_range=(start, end),
                    reason="chunks",
                )


def generate(session: Session) -> tuple[Log, dict[int, File], list[Show]]:
    shows = [make_show(session, "sharp-tech"), make_show(session, "goat")]
    episodes = [
        make_episode(session, shows[0], bitrate=128_000, seconds=3600, offset=2_000),
        make_episode(session, shows[0], bitrate=64_000, seconds=1800, offset=0),
        make_episode(session, shows[0], bitrate=128_000, seconds=40, offset=1_000),  # sub-minute
        make_episode(session, shows[1], bitrate=0, seconds=900, offset=500),  # no stated bitrate
        make_episode(session, shows[1], bitrate=96_000, seconds=2400, offset=45_000),
    ]
    files = {episode.id: File.of(episode) for episode in episodes}
    by_show = {show.id: [files[e.id] for e in episodes if e.show_id == show.id] for show in shows}
    log = Log(seed=11)
    rng = log.rng
    proxies = [f"198.51.100.{n}" for n in range(1, 6)]  # a company's and a campus's NAT
    listeners: list[Listener] = []
    for n in range(SUBSCRIBERS):
        show = shows[n % 2]
        token = f"tok{n:09d}"
        subscriber = 1_000 + n
        draw = rng.random()
        if draw < 0.15:
            ips = [rng.choice(proxies)]
        elif draw < 0.35:  # IPv6: a phone whose address changes within its /64
            network = f"2001:db8:{n:x}:{rng.randrange(16):x}"
            ips = [
                f"{network}::{rng.randrange(1, 2**16):x}",
                f"{network}::{rng.randrange(1, 2**16):x}",
            ]
        else:
            ips = [f"203.0.{n // 200}.{n % 200 + 1}"]
        agents = rng.sample(AGENTS, rng.choice((1, 1, 2)))
        for agent in agents:
            version = str(rng.randrange(3)) if ips[0] in proxies else str(rng.randrange(100))
            for ip in ips:
                listeners.append(
                    Listener(
                        subscriber, token, show.id, agent, agent.user_agent.format(v=version), ip
                    )
                )
    public = [
        Listener(None, None, shows[1].id, agent, agent.user_agent.format(v="7"), f"192.0.2.{n}")
        for n, agent in enumerate(AGENTS, start=1)
    ]
    bots = [
        Listener(
            None, f"tok{n:09d}", shows[n % 2].id, bot, bot.user_agent.format(v="1"), "66.249.66.1"
        )
        for n, bot in enumerate(BOTS)
    ]
    for listener in listeners:
        for _ in range(rng.randrange(1, 4)):
            log.add(listener, log.moment(), kind="feed", reason="poll")
        for file in rng.sample(by_show[listener.show_id], rng.randrange(1, 3)):
            at = log.moment()
            log.listen(listener, file, at)
            draw = rng.random()
            if draw < 0.2:  # again later that day, if the day lasts
                log.listen(listener, file, at + timedelta(hours=rng.randrange(1, 20)))
            elif draw < 0.3:  # just before and just after midnight: one download each day
                midnight = datetime.combine(at.date(), datetime.min.time(), UTC)
                log.listen(listener, file, midnight - timedelta(seconds=30))
                log.add(listener, midnight, episode=file, reason="midnight")
    # Two subscribers behind one NAT with the same app build at the same second: one download,
    # credited to the request with the lower id.
    twins = [listener for listener in listeners if listener.ip == proxies[0]][:2]
    moment = datetime(2026, 11, 9, 12, tzinfo=UTC)
    for listener in twins:
        same = Listener(
            listener.subscriber_id,
            listener.token_id,
            shows[0].id,
            AGENTS[0],
            "AppleCoreMedia/1.0.0.twin",
            proxies[0],
        )
        log.add(same, moment, episode=by_show[shows[0].id][0], reason="twins")
    for listener in public:
        for file in by_show[listener.show_id]:
            log.listen(listener, file, log.moment())
    for listener in bots:
        for file in by_show[listener.show_id] * 4:
            log.add(listener, log.moment(), episode=file, reason="bot")
            log.add(listener, log.moment(), kind="feed", reason="bot poll")
    session.execute(insert(ListenEvent), log.events)
    return log, files, shows


def days_of(log: Log) -> list[date]:
    return sorted({event["at"].date() for event in log.events})


def stored_downloads(session: Session) -> set[tuple[Any, ...]]:
    rows = session.execute(select(*(getattr(Download, f) for f in DOWNLOAD_FIELDS)))
    return {tuple(row) for row in rows}


def test_rollup_counts_downloads_by_the_iab_rules(db: Database) -> None:
    with transaction(db.writer) as session:
        log, files, _ = generate(session)
    expected = expected_downloads(log.events, files)
    # The log holds every case the rules name, and counts some and not others.
    for reason in ("head", "probe", "short", "tags", "minute", "suffix", "refused", "bot", "twins"):
        assert log.reasons[reason] > 0, reason
    assert len(log.events) > 3_000
    assert 400 < len(expected) < len(log.events) / 3

    with transaction(db.writer) as session:
        counted = sum(analytics.rollup(session, day) for day in days_of(log))
    with transaction(db.reader) as session:
        assert stored_downloads(session) == expected
    assert counted == len(expected)

    with transaction(db.writer) as session:  # again: the same rows
        for day in days_of(log):
            analytics.rollup(session, day)
    with transaction(db.reader) as session:
        assert stored_downloads(session) == expected


def test_rollup_edge_cases(db: Database) -> None:
    """Each rule on its own, one download or none."""
    with transaction(db.writer) as session:
        show = make_show(session, "edges")
        long = File.of(make_episode(session, show, bitrate=128_000, seconds=600, offset=4_000))
        short = File.of(make_episode(session, show, bitrate=128_000, seconds=30, offset=1_000))
    minute = int(long.bytes_per_minute)  # 960,000 bytes at 128 kbit/s
    at = datetime(2026, 11, 9, 10, tzinfo=UTC)
    cases = [
        (long, (long.offset, long.offset + minute - 1), True),  # a minute of audio exactly
        (long, (long.offset, long.offset + minute - 2), False),  # a byte less
        (long, (0, minute - 1), False),  # a minute of bytes, but the tags come first
        (long, (long.size - minute, None), True),  # the last minute, open-ended
        (long, (None, minute - 1), False),  # the last minute but one byte
        (short, (short.size - 10, None), True),  # the end of a sub-minute file
        (short, (short.size - 10, short.size + 10_000), True),  # past its end: to its end
        (short, (0, short.size - 2), False),  # all but its last byte
        (short, (0, 1), False),  # the probe
    ]
    log = Log(seed=1)
    for n, (file, byte_range, _) in enumerate(cases):
        listener = Listener(1, "tok", show.id, AGENTS[0], f"agent {n}", "203.0.113.9")
        log.add(listener, at, episode=file, status=206, byte_range=byte_range, reason="case")
    with transaction(db.writer) as session:
        session.execute(insert(ListenEvent), log.events)
        analytics.rollup(session, at.date())
    with transaction(db.reader) as session:
        counted = set(session.scalars(select(Download.user_agent)))
    assert counted == {f"agent {n}" for n, (*_, counts) in enumerate(cases) if counts}


def test_purge_keeps_whole_days_of_the_window(db: Database) -> None:
    now = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    listener = Listener(1, "tok", 1, AGENTS[0], "agent", "203.0.113.9")
    log = Log(seed=2)
    moments = [
        datetime(2026, 11, 24, 23, 59, 59, tzinfo=UTC),  # the day before the window
        datetime(2026, 11, 25, 0, 0, tzinfo=UTC),  # the window's first day
        now,
    ]
    for moment in moments:
        log.add(listener, moment, kind="feed", reason="poll")
    with transaction(db.writer) as session:
        session.execute(insert(ListenEvent), log.events)
        assert analytics.purge(session, now, retention_days=3) == 1
    with transaction(db.reader) as session:
        assert list(session.scalars(select(ListenEvent.at).order_by(ListenEvent.at))) == moments[1:]


def test_rollup_command_counts_yesterday_and_today_and_purges(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "DATABASE_URL": settings.database_url,
        "PODPASS_SECRET_KEY": SECRET_KEY,
        "PODPASS_ADMIN_KEY": ADMIN_KEY,
        "PODPASS_EVENT_RETENTION_DAYS": "30",
    }.items():
        monkeypatch.setenv(name, value)
    with transaction(db.writer) as session:
        show = make_show(session, "cron")
        file = File.of(make_episode(session, show, bitrate=64_000, seconds=600, offset=0))
    now = utcnow()
    log = Log(seed=3)
    listener = Listener(1, "tok", show.id, AGENTS[0], "agent", "203.0.113.9")
    for moment in (now - timedelta(days=1), now, now - timedelta(days=40)):
        log.add(listener, moment, episode=file, reason="whole")
    with transaction(db.writer) as session:
        session.execute(insert(ListenEvent), log.events)

    assert cli(["analytics", "rollup"]) == 0

    with transaction(db.reader) as session:
        days = set(session.scalars(select(Download.day)))
        kept = list(session.scalars(select(ListenEvent.at)))
    assert days == {(now - timedelta(days=1)).date(), now.date()}
    assert len(kept) == 2
    with pytest.raises(SystemExit, match="purged"):
        cli(["analytics", "rollup", "--day", (now - timedelta(days=40)).date().isoformat()])


def listeners_per_day(downloads: set[tuple[Any, ...]]) -> int:
    return len({(row[0], row[3], row[4]) for row in downloads})


def counts(downloads: set[tuple[Any, ...]]) -> dict[str, int]:
    return {
        "downloads": len(downloads),
        "unique_listeners": listeners_per_day(downloads),
        "unique_subscribers": len({row[7] for row in downloads if row[7] is not None}),
    }


def by(downloads: set[tuple[Any, ...]], column: int) -> list[dict[str, Any]]:
    groups: dict[Any, set[tuple[Any, ...]]] = defaultdict(set)
    for row in downloads:
        groups[row[column]].add(row)
    return sorted(
        ({"name": name} | counts(rows) for name, rows in groups.items()),
        key=lambda group: (-group["downloads"], group["name"] is None, group["name"] or ""),
    )


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def report_as_csv_rows(report: dict[str, Any]) -> list[dict[str, str]]:
    """The CSV that the JSON report says there should be."""
    span = {"start": report["start"], "end": report["end"]}

    def row(
        section: str, name: str | None, dates: dict[str, str], numbers: dict[str, Any]
    ) -> dict[str, str]:
        return {"section": section, "name": name or "", **dates} | {
            key: str(numbers[key])
            for key in ("downloads", "unique_listeners", "unique_subscribers")
        }

    rows = [row("total", "", span, report["totals"])]
    rows += [
        row(report["interval"], "", {"start": p["start"], "end": p["end"]}, p)
        for p in report["periods"]
    ]
    rows += [row("app", g["name"], span, g) for g in report["apps"]]
    rows += [row("device_category", g["name"], span, g) for g in report["device_categories"]]
    rows += [row("episode", e["title"], span, e) for e in report.get("top_episodes", [])]
    return rows


@pytest.fixture
def rolled_up(db: Database) -> tuple[set[tuple[Any, ...]], list[Show], dict[int, File]]:
    with transaction(db.writer) as session:
        log, files, shows = generate(session)
        for day in days_of(log):
            analytics.rollup(session, day)
    return expected_downloads(log.events, files), shows, files


def test_show_report_by_day_and_week_as_json_and_csv(
    admin: TestClient, rolled_up: tuple[set[tuple[Any, ...]], list[Show], dict[int, File]]
) -> None:
    expected, shows, files = rolled_up
    show = shows[0]
    titles = {file.id: file.title for file in files.values()}
    mine = {row for row in expected if row[2] == show.id and DAYS[0] <= row[0] <= DAYS[-1]}
    sunday, monday = DAYS[1], DAYS[2]
    assert (sunday.weekday(), monday.weekday()) == (6, 0)
    window = {"from": DAYS[0].isoformat(), "to": DAYS[-1].isoformat()}

    by_day = admin.get(f"/admin/analytics/shows/{show.slug}", params=window)
    assert by_day.status_code == 200, by_day.text
    report = by_day.json()
    assert report["show"] == show.slug
    assert {k: report["totals"][k] for k in counts(mine)} == counts(mine)
    assert [(p["start"], p["end"]) for p in report["periods"]] == [
        (d.isoformat(),) * 2 for d in DAYS
    ]
    for period, day in zip(report["periods"], DAYS, strict=True):
        assert {k: period[k] for k in counts(mine)} == counts({r for r in mine if r[0] == day})
    assert report["apps"] == by(mine, 9)
    assert report["device_categories"] == by(mine, 11)
    top = sorted(by(mine, 1), key=lambda group: (-group["downloads"], group["name"]))
    assert [{"name": e.pop("episode_id")} | e for e in report["top_episodes"]] == [
        group | {"title": titles[group["name"]]} for group in top[: analytics.TOP_EPISODES]
    ]
    # Listeners are counted per day: one person on two days is two.
    assert report["totals"]["unique_listeners"] == sum(
        p["unique_listeners"] for p in report["periods"]
    )

    by_week = admin.get(
        f"/admin/analytics/shows/{show.slug}", params=window | {"interval": "week"}
    ).json()
    weeks = [(DAYS[0], sunday), (monday, DAYS[-1])]
    assert [(p["start"], p["end"]) for p in by_week["periods"]] == [
        (a.isoformat(), b.isoformat()) for a, b in weeks
    ]
    for period, (first, last) in zip(by_week["periods"], weeks, strict=True):
        week = {r for r in mine if first <= r[0] <= last}
        assert {k: period[k] for k in counts(week)} == counts(week)
    # Subscribers are exact over the week, not summed over its days.
    assert by_week["periods"][0]["unique_subscribers"] < sum(
        p["unique_subscribers"] for p in report["periods"][:2]
    )

    as_csv = admin.get(
        f"/admin/analytics/shows/{show.slug}", params=window | {"interval": "week", "format": "csv"}
    )
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv_rows(as_csv.text) == report_as_csv_rows(by_week)


def test_episode_report_and_default_range(
    admin: TestClient,
    clock: Clock,
    rolled_up: tuple[set[tuple[Any, ...]], list[Show], dict[int, File]],
) -> None:
    expected, _, files = rolled_up
    file = next(iter(files.values()))
    mine = {row for row in expected if row[1] == file.id and row[0] >= DAYS[0]}
    clock.advance(datetime(2026, 12, 6, 12, tzinfo=UTC) - clock())  # the last 30 days: Nov 7 on

    answer = admin.get(f"/admin/analytics/episodes/{file.id}")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["start"], report["end"]) == ("2026-11-07", "2026-12-06")
    assert len(report["periods"]) == 30
    assert {k: report["totals"][k] for k in counts(mine)} == counts(mine)
    assert report["totals"]["unique_listeners"] == report["totals"]["downloads"]
    assert report["apps"] == by(mine, 9)
    as_csv = admin.get(f"/admin/analytics/episodes/{file.id}", params={"format": "csv"})
    assert csv_rows(as_csv.text) == report_as_csv_rows(report)

    clock.advance(timedelta(days=1))  # Nov 7 falls out of the window
    later = admin.get(f"/admin/analytics/episodes/{file.id}").json()
    dropped = {row for row in mine if row[0] == DAYS[0]}
    assert later["totals"]["downloads"] == len(mine) - len(dropped)


def test_report_range_is_checked(admin: TestClient, show: dict[str, Any]) -> None:
    backwards = admin.get(
        f"/admin/analytics/shows/{show['slug']}", params={"from": "2026-11-09", "to": "2026-11-01"}
    )
    assert backwards.status_code == 422
    huge = admin.get(
        f"/admin/analytics/shows/{show['slug']}", params={"from": "0001-01-01", "to": "9999-12-31"}
    )
    assert huge.status_code == 422
    last_days = admin.get(
        f"/admin/analytics/shows/{show['slug']}",
        params={"from": "9999-12-20", "to": "9999-12-31", "interval": "week"},
    )
    assert last_days.status_code == 200
    assert last_days.json()["periods"][-1]["end"] == "9999-12-31"
    assert admin.get("/admin/analytics/shows/nope").status_code == 404


def test_subscriber_report(admin: TestClient, db: Database) -> None:
    with transaction(db.writer) as session:
        show = make_show(session, "sharp-tech")
        other = make_show(session, "goat")
        file = File.of(make_episode(session, show, bitrate=64_000, seconds=600, offset=0))
        subscriber = Subscriber(email="ben@example.com")
        session.add(subscriber)
        session.flush()
        session.add_all(
            [
                FeedAccess(subscriber_id=subscriber.id, show_id=show.id, token_id="current0001a"),
                FeedAccess(subscriber_id=subscriber.id, show_id=other.id, token_id="goatfeed0001"),
            ]
        )
        session.flush()
        subscriber_id = subscriber.id
    log = Log(seed=4)
    day = datetime(2026, 11, 9, tzinfo=UTC)

    def person(token: str, agent: Agent, ip: str) -> Listener:
        return Listener(subscriber_id, token, show.id, agent, agent.user_agent.format(v="1"), ip)

    rotated = person("rotated00001", AGENTS[1], "203.0.113.5")
    phone = person("current0001a", AGENTS[0], "2001:db8:5:1::1")
    laptop = person("current0001a", AGENTS[6], "198.51.100.7")
    log.add(rotated, day + timedelta(hours=1), kind="feed", reason="poll")
    log.add(rotated, day + timedelta(hours=2), episode=file, reason="whole")
    log.add(phone, day + timedelta(hours=3), kind="feed", reason="poll")
    log.add(phone, day + timedelta(hours=9), kind="feed", reason="poll")
    log.add(phone, day + timedelta(hours=4), episode=file, reason="whole")
    log.add(phone, day + timedelta(days=1, hours=4), episode=file, reason="whole")
    log.add(
        laptop,
        day + timedelta(hours=5),
        episode=file,
        status=206,
        byte_range=(0, None),
        reason="open",
    )
    with transaction(db.writer) as session:
        session.execute(insert(ListenEvent), log.events)
        for each in (day.date(), day.date() + timedelta(days=1)):
            analytics.rollup(session, each)
        session.add_all(
            [
                alert(subscriber_id, show.id, "rotated00001", day, rotated=True),
                alert(subscriber_id, other.id, "goatfeed0001", day + timedelta(days=3)),
                alert(subscriber_id + 1, show.id, "someone0else", day + timedelta(days=2)),
            ]
        )

    params = {"from": "2026-11-01", "to": "2026-11-30"}
    answer = admin.get(f"/admin/analytics/subscribers/{subscriber_id}", params=params)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["downloads"] == 4
    assert report["last_poll"] == (day + timedelta(hours=9)).isoformat().replace("+00:00", "Z")
    assert report["feeds"] == [
        {
            "token_id": "current0001a",
            "show": "sharp-tech",
            "current": True,
            "last_poll": report["last_poll"],
            "downloads": 3,
        },
        {
            "token_id": "goatfeed0001",
            "show": "goat",
            "current": True,
            "last_poll": None,
            "downloads": 0,
        },
        {
            "token_id": "rotated00001",
            "show": "sharp-tech",
            "current": False,
            "last_poll": (day + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
            "downloads": 1,
        },
    ]
    assert report["apps"] == [
        {"name": "Apple Podcasts", "downloads": 2},
        {"name": "Overcast", "downloads": 1},
        {"name": "Safari", "downloads": 1},
    ]
    assert report["prefixes"] == [
        {"name": "2001:db8:5::/48", "downloads": 2},
        {"name": "198.51.100.0/24", "downloads": 1},
        {"name": "203.0.113.0/24", "downloads": 1},
    ]
    # Every alert on the subscriber's URLs, the rotated one too, newest first.
    assert [
        (a["token_id"], a["show"], a["status"], a["opened_at"], a["evidence"]["reasons"])
        for a in report["alerts"]
    ] == [
        ("goatfeed0001", "goat", "open", iso(day + timedelta(days=3)), ["many_networks"]),
        ("rotated00001", "sharp-tech", "rotated", iso(day), ["many_networks"]),
    ]
    assert report["alerts"][1]["closed_at"] == iso(day + timedelta(hours=1))
    assert report["alerts"][1]["evidence"]["prefixes"] == [f"192.0.{n}.0/24" for n in range(8)]
    as_csv = admin.get(
        f"/admin/analytics/subscribers/{subscriber_id}", params=params | {"format": "csv"}
    )
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    rows = csv_rows(as_csv.text)
    no_alert = {"status": "", "opened_at": "", "closed_at": "", "reasons": ""}
    assert (
        rows[0]
        == {
            "section": "total",
            "name": "",
            "show": "",
            "current": "",
            "last_poll": datetime.fromisoformat(report["last_poll"]).isoformat(),
            "downloads": "4",
        }
        | no_alert
    )
    assert [(r["section"], r["name"], r["downloads"]) for r in rows[1:]] == [
        ("feed", f["token_id"], str(f["downloads"])) for f in report["feeds"]
    ] + [("app", a["name"], str(a["downloads"])) for a in report["apps"]] + [
        ("prefix", p["name"], str(p["downloads"])) for p in report["prefixes"]
    ] + [("alert", "goatfeed0001", "9"), ("alert", "rotated00001", "9")]
    assert rows[-1] == {
        "section": "alert",
        "name": "rotated00001",
        "show": "sharp-tech",
        "current": "",
        "last_poll": "",
        "downloads": "9",
        "status": "rotated",
        "opened_at": day.isoformat(),
        "closed_at": (day + timedelta(hours=1)).isoformat(),
        "reasons": "many_networks",
    }
    assert admin.get("/admin/analytics/subscribers/999999").status_code == 404

    # Alerts and their evidence are for the roles that handle subscribers: an analyst and an
    # editor (STATS) get the rest of the report without them, in JSON and CSV.
    path = f"/admin/analytics/subscribers/{subscriber_id}"
    for role, sees_alerts in ((Role.ANALYST, False), (Role.EDITOR, False), (Role.SUPPORT, True)):
        with transaction(db.writer) as session:
            user = accounts.create_user(
                session, email=f"{role}@example.com", password="p" * 12, role=role, now=utcnow()
            )
            _, key = accounts.create_api_key(session, user, name="tests", now=utcnow())
        headers = {"Authorization": f"Bearer {key}"}
        seen = admin.get(path, params=params, headers=headers).json()
        assert seen["feeds"] == report["feeds"]
        assert seen["alerts"] == (report["alerts"] if sees_alerts else []), role
        seen_csv = admin.get(path, params=params | {"format": "csv"}, headers=headers)
        assert ("rotated00001" in seen_csv.text.split("\r\n")[-2]) is sees_alerts, role


def iso(moment: datetime) -> str:
    """As the JSON answer writes a UTC time."""
    return moment.isoformat().replace("+00:00", "Z")


def alert(
    subscriber_id: int, show_id: int, token_id: str, opened_at: datetime, *, rotated: bool = False
) -> SharingAlert:
    """A sharing alert as detection makes it: nine downloads from eight networks."""
    evidence = Evidence(
        detected_at=opened_at,
        window_days=7,
        first_seen=opened_at - timedelta(days=2),
        last_seen=opened_at,
        downloads=9,
        prefix_count=8,
        app_count=2,
        device_count=2,
        prefixes=[f"192.0.{n}.0/24" for n in range(8)],
        apps=["Overcast", "Pocket Casts"],
        devices=["iPhone", "Pixel"],
        downloads_per_episode={"1": 9},
        most_prefixes_per_episode=8,
        overcast_subscribers=None,
        reasons=[Reason.MANY_NETWORKS],
    )
    return SharingAlert(
        token_id=token_id,
        subscriber_id=subscriber_id,
        show_id=show_id,
        status="rotated" if rotated else "open",
        opened_at=opened_at,
        closed_at=opened_at + timedelta(hours=1) if rotated else None,
        evidence=evidence.model_dump(mode="json"),
    )


def test_upload_records_where_the_audio_starts(
    admin: TestClient, show: dict[str, Any], db: Database
) -> None:
    mp3, m4a = MP3.read_bytes(), M4A.read_bytes()
    assert mp3[:3] == b"ID3"  # the tag's size: a 10-byte header and a syncsafe length
    tag = 10 + sum(byte << (7 * (3 - n)) for n, byte in enumerate(mp3[6:10]))
    media_data = m4a.index(b"mdat") + 4  # after the box's size and name
    offsets = {}
    for path in (MP3, M4A):
        answer = upload(admin, show["slug"], path)
        assert answer.status_code == 201, answer.text
        offsets[path] = answer.json()["id"]
    with transaction(db.reader) as session:
        found = {
            path: session.get_one(Episode, episode_id).audio_offset
            for path, episode_id in offsets.items()
        }
    assert found == {MP3: tag, M4A: media_data}
    assert tag > 0
    assert media_data > 8
