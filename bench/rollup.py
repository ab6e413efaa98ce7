"""Time `rollup` over one day of one million raw events: `python -m bench.rollup [DATABASE_URL]`.

A fresh SQLite file by default; a PostgreSQL URL is used in a schema of its own (created and
dropped here), so a shared database is left as it was. The day is a publisher's busy day:
200 episodes, about 120,000 listens from 60,000 listeners, each listen one to a few dozen
requests (probes, HEADs, ranges, chunked downloads), plus feed polls and bots."""

import argparse
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text

from app.analytics import service as analytics
from app.cli import migrate
from app.core.db.engine import Database, build_engine
from app.core.db.session import transaction
from app.models import Download, Episode, ListenEvent, Show

EVENTS = 1_000_000
DAY = date(2026, 11, 10)
BATCH = 20_000
SCHEMA = "bench_rollup"
APPS = [
    (
        "AppleCoreMedia/1.0.0.21E236 (iPhone; U; CPU OS 17_4 like Mac OS X; en_us)",
        "Apple Podcasts",
        "iPhone",
        "mobile",
    ),
    ("Overcast/3.0 (+http://overcast.fm/; iOS podcast app)", "Overcast", None, None),
    ("Spotify/8.9.10 Android/34 (SM-S918B)", "Spotify", "Android phone", "mobile"),
    ("PocketCasts/1.0 (Pocket Casts Feed Parser)", "Pocket Casts", None, None),
    ("AntennaPod/3.3.2", "AntennaPod", "Android phone", "mobile"),
]


def events(
    episodes: list[tuple[int, int, int]], rng: random.Random, count: int
) -> list[dict[str, object]]:
    start = datetime.combine(DAY, datetime.min.time(), UTC)
    rows: list[dict[str, object]] = []
    while len(rows) < count:
        listener = rng.randrange(60_000)
        ua, app, device, category = APPS[listener % len(APPS)]
        episode_id, size, minute = episodes[rng.randrange(len(episodes))]
        at = start + timedelta(seconds=rng.randrange(86_400))
        common = {
            "kind": "audio",
            "token_id": f"tok{listener:09d}",
            "subscriber_id": listener,
            "show_id": 1,
            "episode_id": episode_id,
            "method": "GET",
            "user_agent": f"{ua} {listener % 7}",
            "ip_hash": f"{listener:032x}",
            "ip_prefix": f"10.{listener // 65536}.{listener // 256 % 256}.0/24",
            "app": app,
            "device": device,
            "device_category": category,
            "bot": listener % 97 == 0,
        }
        rows.append(common | {"at": at, "status": 206, "range_start": 0, "range_end": 1})
        style = rng.randrange(4)
        if style == 0:
            rows.append(common | {"at": at, "status": 200, "range_start": None, "range_end": None})
        elif style == 1:
            rows.append(
                common | {"at": at, "status": 206, "range_start": 0, "range_end": minute // 2}
            )
        else:  # chunked: a range per two minutes
            for n, first in enumerate(range(0, size, minute * 2)):
                rows.append(
                    common
                    | {
                        "at": at + timedelta(seconds=n),
                        "status": 206,
                        "range_start": first,
                        "range_end": first + minute * 2 - 1,
                    }
                )
        if rng.random() < 0.5:
            rows.append(
                common
                | {
                    "at": at,
                    "kind": "feed",
                    "episode_id": None,
                    "status": 304,
                    "range_start": None,
                    "range_end": None,
                }
            )
    return rows[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database_url", nargs="?")
    parser.add_argument("--events", type=int, default=EVENTS, help="about this many")
    args = parser.parse_args()
    url = args.database_url
    if url is None:
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'rollup.db'}"
    postgres = url.startswith("postgresql")
    if postgres:
        admin = build_engine(url)
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        admin.dispose()
        url += ("&" if "?" in url else "?") + f"options=-csearch_path={SCHEMA}"
    migrate(url)
    db = Database(build_engine(url))
    rng = random.Random(2026)
    try:
        with transaction(db.writer) as session:
            show = Show(
                slug="bench",
                title="Bench",
                description="",
                author="a",
                owner_name="a",
                owner_email="a@example.com",
                language="en",
                category="Technology",
                link="https://example.com",
            )
            session.add(show)
            session.flush()
            episodes = []
            for n in range(200):
                bitrate, seconds, offset = 64_000 * (1 + n % 2), 600 + 30 * n, 2_000
                size = offset + bitrate // 8 * seconds
                episode = Episode(
                    show_id=show.id,
                    title=f"E{n}",
                    audio_key=f"e{n}.mp3",
                    audio_mime="audio/mpeg",
                    audio_size=size,
                    audio_offset=offset,
                    duration_seconds=seconds,
                    bitrate=bitrate,
                )
                session.add(episode)
                session.flush()
                episodes.append((episode.id, size, bitrate // 8 * 60))
        rows = events(episodes, rng, args.events)
        loading = time.perf_counter()
        with transaction(db.writer) as session:
            for first in range(0, len(rows), BATCH):
                session.execute(insert(ListenEvent), rows[first : first + BATCH])
        print(f"loaded {len(rows):,} events in {time.perf_counter() - loading:.1f} s")
        if postgres:
            with db.engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        for attempt in (1, 2):
            began = time.perf_counter()
            with transaction(db.writer) as session:
                counted = analytics.rollup(session, DAY)
            took = time.perf_counter() - began
            print(
                f"{db.engine.dialect.name} rollup #{attempt}: {counted:,} downloads "
                f"from {len(rows):,} events in {took:.2f} s"
            )
        with transaction(db.reader) as session:
            assert session.scalar(select(func.count()).select_from(Download)) == counted
    finally:
        db.engine.dispose()
        if postgres:
            admin = build_engine(url.split("?")[0])
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            admin.dispose()


if __name__ == "__main__":
    main()
