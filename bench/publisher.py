"""A publisher's scale on both databases: `python -m bench.publisher [POSTGRES_URL]` (make
bench runs it).

100,000 subscribers, each with a feed of each of four shows of 2,000 episodes (400,000
feed URLs), in SQLite and then in PostgreSQL (a database of its own, made afresh on the
server POSTGRES_URL names). On each, one worker as `make run` serves it: feed 200 against
a static gzip body of the same size, and feed 304 against an empty 200, each floor in the
same run, a new subscriber's token on every request. Then the plan of the poll's one
query, for a real token, as each database runs it at this size.
"""

import argparse
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx
import psycopg
from sqlalchemy import make_url

from app.core.db.engine import Database, build_engine
from app.core.tokens import FeedTokens
from app.feeds.access import Gate
from bench.__main__ import Result, server, server_env, settle, wrk
from bench.scale import SHOWS, populate
from tests.servers import free_port

GOAL = 0.5


@contextmanager
def fresh_database(server_url: str, name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of `server_url`; dropped after."""
    url = make_url(server_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(
    label: str, database_url: str, work: Path, args: argparse.Namespace
) -> tuple[list[tuple[Result, Result]], list[str]]:
    """Populate, serve and measure one database: (path, floor) pairs, and the poll's plan."""
    secret_key = secrets.token_urlsafe(32)
    port = free_port()
    print(f"{label}: {args.subscribers:,} subscribers × {len(SHOWS)} shows ...")
    tokens = populate(
        database_url,
        secret_key,
        work / "audio",
        episodes=args.episodes,
        subscribers=args.subscribers,
    )
    everyone = [token for slug in SHOWS for token in tokens[slug]]
    tokens_file = work / f"tokens-{label}.txt"
    tokens_file.write_text("\n".join(secrets.SystemRandom().sample(everyone, len(everyone))))
    env = server_env(database_url, secret_key, work / "audio", port, work)
    url = f"http://127.0.0.1:{port}"
    gzip_header = {"Accept-Encoding": "gzip"}

    def measure(pid: int, name: str, path: str, tokens: Path, etag: str = "") -> Result:
        settle(pid)
        result = wrk(
            f"{name} ({label})",
            url,
            path,
            tokens,
            seconds=args.seconds,
            connections=args.connections,
            if_none_match=etag,
        )
        print(f"  {result.name:<40} {result.requests_per_second:10.1f} req/s")
        return result

    with server(env, port) as process, httpx.Client(base_url=url, timeout=600) as client:
        etag = ""
        for slug in SHOWS:  # each show's first render, and its gzip body as a floor
            with client.stream(
                "GET", f"/p/{tokens[slug][0]}/feed.xml", headers=gzip_header
            ) as response:
                response.raise_for_status()
                (work / f"{slug}.gz").write_bytes(b"".join(response.iter_raw()))
                etag = etag or response.headers["etag"]
        # 304s for the first show's subscribers, whose feeds share that ETag.
        first_show = work / f"tokens-{label}-first.txt"
        first_show.write_text("\n".join(tokens[SHOWS[0]]))
        pairs = [
            (
                measure(process.pid, "feed 200 (gzip), 4 shows", "/p/%s/feed.xml", tokens_file),
                measure(
                    process.pid, "floor: static gzip body", f"/bench/static/{SHOWS[0]}", tokens_file
                ),
            )
        ]
        pairs.append(
            (
                measure(process.pid, "feed 304", "/p/%s/feed.xml", first_show, etag),
                measure(process.pid, "floor: empty 200", "/bench/empty", first_show),
            )
        )
    engine = build_engine(database_url)
    feed_tokens = FeedTokens(secret_key)
    gate = Gate(Database(engine), feed_tokens, lambda: datetime.now(UTC))
    plan = gate.by_token.plan(token_id=feed_tokens.token_id_of(tokens[SHOWS[-1]][-1]))
    engine.dispose()
    return pairs, plan


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.publisher", description=__doc__)
    parser.add_argument("postgres", nargs="?", help="a PostgreSQL server's URL (any database)")
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--episodes", type=int, default=2000, help="per show")
    parser.add_argument("--seconds", type=int, default=10, help="per measured run")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    measured: dict[str, tuple[list[tuple[Result, Result]], list[str]]] = {}
    with tempfile.TemporaryDirectory(prefix="podpass-publisher-") as folder:
        work = Path(folder)
        (work / "sqlite").mkdir()
        measured["SQLite"] = run("SQLite", f"sqlite:///{work / 'sqlite' / 'p.db'}", work, args)
        if args.postgres:
            (work / "pg").mkdir()
            with fresh_database(args.postgres, "podpass_bench_publisher") as url:
                measured["PostgreSQL"] = run("PostgreSQL", url, work / "pg", args)

    print("\n| database | path | req/s | vs. | ratio | target |")
    print("|---|---|---:|---|---:|---|")
    for label, (pairs, _) in measured.items():
        for path, floor in pairs:
            ratio = path.requests_per_second / floor.requests_per_second
            print(
                f"| {label} | {path.name} | {path.requests_per_second:.1f} | {floor.name} "
                f"({floor.requests_per_second:.1f} req/s) | {ratio:.2f} | "
                f"≥ {GOAL} {'✓' if ratio >= GOAL else '✗'} |"
            )
    for label, (_, plan) in measured.items():
        print(f"\nA poll's one query on {label} at {args.subscribers:,} subscribers:")
        print("\n".join(f"    {line}" for line in plan))
    if not args.postgres:
        print("\nNo PostgreSQL URL given: SQLite only.")
    print(f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
