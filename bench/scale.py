"""Scale-out and memory: `python -m bench.scale` (make bench runs it).

Builds four shows of 2,000 episodes each, with subscribers who have all four, and runs the
real server (production settings, no access log):
- feed 200 (gzip) and feed 304 with two uvicorn workers against one (target: 1.7 times as
  many answers), wrk from a second process as in `python -m bench`;
- the resident memory of one worker once it serves all four shows' feeds, gzip and plain
  (target ≤ 150 MB).
"""

import argparse
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import insert

from app.cli import migrate
from app.core.db.engine import build_engine
from app.core.tokens import FeedTokens
from app.models import Episode, EpisodeKind
from bench.__main__ import (
    SAMPLE,
    WORDS,
    Result,
    _episode,
    _grant,
    _insert_show,
    _show,
    _subscribers,
    cpu_ticks,
    rss_kib,
    server,
    server_env,
    show_notes,
    wrk,
)
from tests.servers import free_port

HERE = Path(__file__).parent
TICKS = os.sysconf("SC_CLK_TCK")
SHOWS = ["sharp-tech", "sharp-china", "goat", "dithering"]


def populate(
    database_url: str, secret_key: str, audio_dir: Path, *, episodes: int, subscribers: int
) -> dict[str, list[str]]:
    """Four shows of `episodes` episodes; every subscriber has all four. Tokens per show."""
    migrate(database_url)
    (audio_dir / "bench").mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE, audio_dir / "bench" / "sample.mp3")
    rng = random.Random(15)
    now = datetime.now(UTC)
    tokens = FeedTokens(secret_key)
    engine = build_engine(database_url)
    with engine.begin() as connection:
        subscriber_ids = _subscribers(connection, subscribers, now)
        by_show = {}
        for slug in SHOWS:
            show_id = _insert_show(connection, _show(slug, slug.title(), "Weekly.", now))
            connection.execute(
                insert(Episode),
                [
                    _episode(show_id, f"{slug}-{i:05d}", now - timedelta(days=episodes - i), now)
                    | {
                        "title": f"Episode {i}: " + " ".join(rng.choices(WORDS, k=6)),
                        "show_notes": show_notes(rng),
                        "kind": EpisodeKind.EPISODE,
                        "duration_seconds": 1800.0 + i,
                    }
                    for i in range(episodes)
                ],
            )
            by_show[slug] = _grant(connection, tokens, subscriber_ids, show_id, now)
    engine.dispose()
    return by_show


def workers_of(pid: int, expected: int) -> list[int]:
    """The server's worker processes: itself with one worker, else its children."""
    if expected == 1:
        return [pid]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = [
            int(child)
            for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            # not multiprocessing's resource tracker, which the workers' start brings along
            if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes()
        ]
        if len(children) >= expected:
            return children
        time.sleep(0.1)
    raise RuntimeError(f"uvicorn started fewer than {expected} workers")


def settle(pids: list[int]) -> None:
    """Wait until every worker is idle (a render or a slow run's tail is over)."""
    before = sum(cpu_ticks(p) for p in pids)
    for _ in range(480):
        time.sleep(0.25)
        after = sum(cpu_ticks(p) for p in pids)
        if after - before <= 2:
            return
        before = after


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--episodes", type=int, default=2000, help="per show")
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=10, help="per measured run")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="podpass-scale-"))
    port = free_port()
    secret_key = secrets.token_urlsafe(32)
    database_url = f"sqlite:///{work / 'scale.db'}"
    env = server_env(database_url, secret_key, work / "audio", port, work)
    print(f"Building {len(SHOWS)} shows of {args.episodes} episodes in {work} ...")
    tokens = populate(
        database_url,
        secret_key,
        work / "audio",
        episodes=args.episodes,
        subscribers=args.subscribers,
    )
    tokens_file = work / "tokens.txt"
    tokens_file.write_text("\n".join(tokens[SHOWS[0]]) + "\n")
    url = f"http://127.0.0.1:{port}"
    gzip_header = {"Accept-Encoding": "gzip"}
    results: dict[tuple[str, int], Result] = {}

    for count in (1, 2):
        with (
            server(env, port, workers=count) as process,
            httpx.Client(base_url=url, timeout=600) as client,
        ):
            pids = workers_of(process.pid, count)
            feed = f"/p/{tokens[SHOWS[0]][0]}/feed.xml"
            etag = client.get(feed, headers=gzip_header).raise_for_status().headers["etag"]
            if count == 1:
                for slug in SHOWS:  # every show's feed, gzip and plain
                    path = f"/p/{tokens[slug][0]}/feed.xml"
                    client.get(path, headers=gzip_header).raise_for_status()
                    client.get(path).raise_for_status()
                settle(pids)
                rss = rss_kib(pids[0], "VmRSS") / 1024
            # Each worker renders the feed on its own first request: a run to warm them.
            wrk("warm-up", url, "/p/%s/feed.xml", tokens_file, seconds=2, connections=count * 4)
            for name, conditional in (("feed 200 (gzip)", ""), ("feed 304", etag)):
                settle(pids)
                ticks = [cpu_ticks(p) for p in pids]
                result = wrk(
                    f"{name}, {count} worker{'s' if count > 1 else ''}",
                    url,
                    "/p/%s/feed.xml",
                    tokens_file,
                    seconds=args.seconds,
                    connections=args.connections,
                    if_none_match=conditional,
                )
                spent = [cpu_ticks(p) - t for p, t in zip(pids, ticks, strict=True)]
                server_cpu = sum(spent) / TICKS
                # How the work fell between the workers: they share one listening socket,
                # and the kernel, not uvicorn, decides which takes each of wrk's connections.
                split = "/".join(f"{100 * t / max(1, sum(spent)):.0f}%" for t in spent)
                print(
                    f"  {result.name:<36} {result.requests_per_second:10.1f} req/s; CPU per "
                    f"answer: server {server_cpu / max(1, result.requests) * 1e6:.0f} µs"
                    f"{f' (split {split})' if count > 1 else ''}, wrk "
                    f"{result.wrk_cpu_seconds / max(1, result.requests) * 1e6:.0f} µs"
                )
                results[(name, count)] = result
    shutil.rmtree(work)

    print("\n| path | req/s, 1 worker | req/s, 2 workers | ratio | target |")
    print("|---|---:|---:|---:|---|")
    for name in ("feed 200 (gzip)", "feed 304"):
        one, two = results[(name, 1)], results[(name, 2)]
        ratio = two.requests_per_second / one.requests_per_second
        print(
            f"| {name} | {one.requests_per_second:.1f} | {two.requests_per_second:.1f} | "
            f"{ratio:.2f}× | ≥ 1.7× {'✓' if ratio >= 1.7 else '✗'} |"
        )
    print(
        f"\nRSS of a worker serving {len(SHOWS)} shows × {args.episodes} episodes (each "
        f"feed polled gzip and plain): {rss:.0f} MB (target ≤ 150 MB {'✓' if rss <= 150 else '✗'})"
    )
    print(f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
