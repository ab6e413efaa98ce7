"""Republish, in process: `python -m bench.republish [--episodes 2000 20000]`.

For each size, builds one show of that many episodes in a fresh SQLite file, serves its
feed once (the first render), then publishes a new episode through the admin API and times
from the publish call until the next poll of a subscriber's feed carries it: the cost a
publish adds to the feed, which should follow what changed, not the size of the show.
"""

import argparse
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from app.cli import migrate
from app.core.config import get_settings
from app.core.db.engine import build_engine
from app.core.tokens import FeedTokens
from app.main import create_app
from app.models import Episode, EpisodeKind, Subscriber
from bench.__main__ import SAMPLE, WORDS, _episode, _grant, _insert_show, _show, show_notes

SLUG = "sharp-tech"
TARGETS = {2000: 0.1, 20000: 0.3}  # seconds, issue 15
GZIP = {"Accept-Encoding": "gzip"}


def populate(database_url: str, secret_key: str, audio_dir: Path, episodes: int) -> str:
    """One show of `episodes` episodes and one subscriber; their feed token."""
    migrate(database_url)
    (audio_dir / "bench").mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE, audio_dir / "bench" / "sample.mp3")
    rng = random.Random(5005)
    now = datetime.now(UTC)
    engine = build_engine(database_url)
    with engine.begin() as connection:
        show_id = _insert_show(connection, _show(SLUG, "Sharp Tech", "Weekly episodes.", now))
        connection.execute(
            insert(Episode),
            [
                _episode(show_id, f"bench-{i:05d}", now - timedelta(hours=episodes - i), now)
                | {
                    "title": f"Episode {i}: " + " ".join(rng.choice(WORDS) for _ in range(6)),
                    "show_notes": show_notes(rng),
                    "kind": EpisodeKind.EPISODE,
                    "duration_seconds": 1800.0 + i,
                }
                for i in range(episodes)
            ],
        )
        subscriber_id = connection.execute(
            insert(Subscriber).returning(Subscriber.id),
            [{"email": "listener@example.com", "status": "active", "created_at": now}],
        ).scalar_one()
        [token] = _grant(connection, FeedTokens(secret_key), [subscriber_id], show_id, now)
    engine.dispose()
    return token


def measure(episodes: int, publishes: int) -> list[float]:
    """Seconds from each publish call until the next poll has the new episode."""
    work = Path(tempfile.mkdtemp(prefix="podpass-republish-"))
    secret_key, admin_key = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    database_url = f"sqlite:///{work / 'bench.db'}"
    os.environ.update(
        {
            "PODPASS_ENV": "production",
            "PODPASS_SECRET_KEY": secret_key,
            "PODPASS_ADMIN_KEY": admin_key,
            "DATABASE_URL": database_url,
            "PODPASS_AUDIO_DIR": str(work / "audio"),
            "PODPASS_BASE_URL": "http://127.0.0.1:8000",
            "PODPASS_ANALYTICS": "false",
            "PODPASS_BACKGROUND_JOBS": "false",
        }
    )
    get_settings.cache_clear()  # this size's database and keys
    token = populate(database_url, secret_key, work / "audio", episodes)
    admin = {"Authorization": f"Bearer {admin_key}"}
    feed = f"/p/{token}/feed.xml"
    timings = []
    try:
        with TestClient(create_app()) as client:
            start = time.perf_counter()
            client.get(feed, headers=GZIP).raise_for_status()
            first = time.perf_counter() - start
            print(f"{episodes} episodes: first render {first:.2f} s")
            for n in range(publishes):
                title = f"Breaking {n}"
                start = time.perf_counter()
                client.post(
                    f"/admin/shows/{SLUG}/episodes",
                    headers=admin,
                    files={"audio": ("new.mp3", SAMPLE.read_bytes(), "audio/mpeg")},
                    data={"title": title, "publish": "true"},
                ).raise_for_status()
                published = time.perf_counter()
                with client.stream("GET", feed, headers=GZIP) as poll:
                    body = b"".join(poll.iter_raw())
                done = time.perf_counter()
                # Checked after the clock stops: unzipping is the client's work.
                if title.encode() not in zlib.decompress(body, 31):
                    sys.exit(f"the poll after publishing {title!r} does not carry it")
                timings.append(done - start)
                print(
                    f"  publish → poll has it: {(done - start) * 1000:.0f} ms "
                    f"(publish call {(published - start) * 1000:.0f} ms, "
                    f"poll {(done - published) * 1000:.0f} ms)"
                )
    finally:
        shutil.rmtree(work)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.republish", description=__doc__)
    parser.add_argument("--episodes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--publishes", type=int, default=3)
    args = parser.parse_args()
    for episodes in args.episodes:
        timings = sorted(measure(episodes, args.publishes))
        median = timings[len(timings) // 2]
        target = TARGETS.get(episodes)
        verdict = ""
        if target is not None:
            verdict = f" (target ≤ {target * 1000:.0f} ms {'✓' if median <= target else '✗'})"
        print(
            f"Republish of a {episodes}-episode show, in process (publish call → next poll "
            f"has it): median of {len(timings)} {median * 1000:.0f} ms{verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
