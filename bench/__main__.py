"""Publisher-scale benchmark: `python -m bench` (or `make bench`).

Builds a 2,000-episode show with 10,000 subscribers in a fresh database, runs the real
server (uvicorn, production settings, no access log) and drives it with wrk from a second
process, a different subscriber token on every request. Every path and its floor are
measured in the same run, so the ratios hold whatever the machine.
"""

import argparse
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import httpx2 as httpx
from sqlalchemy import insert

from app.cli import migrate
from app.db import build_engine
from app.models import Episode, FeedAccess, Show, Subscriber
from app.tokens import FeedTokens, new_token_id
from tests.servers import free_port, moto_server, wait_for_port

HERE = Path(__file__).parent
SAMPLE = HERE.parent / "tests" / "fixtures" / "episode.mp3"
WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "with",
    "was",
    "on",
    "be",
    "by",
    "this",
    "are",
    "or",
    "from",
    "at",
    "which",
    "platform",
    "aggregation",
    "theory",
    "apple",
    "google",
    "china",
    "chips",
    "tariffs",
    "nvidia",
    "advertising",
    "subscription",
    "bundle",
    "stratechery",
    "interview",
    "daily",
    "update",
    "regulation",
]


@dataclass
class Result:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def show_notes(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(2, 6)):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 90)))
        paragraphs.append(f"<p>{words.capitalize()}.</p>")
    links = "".join(
        f'<li><a href="https://stratechery.com/2026/{rng.randint(1, 9999)}/">'
        f"{rng.choice(WORDS).title()} {rng.choice(WORDS)}</a></li>"
        for _ in range(rng.randint(0, 5))
    )
    return "".join(paragraphs) + (f"<ul>{links}</ul>" if links else "")


def populate(
    database_url: str, secret_key: str, episodes: int, subscribers: int, audio_dir: Path
) -> tuple[list[str], int]:
    migrate(database_url)
    (audio_dir / "bench").mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE, audio_dir / "bench" / "sample.mp3")
    rng = random.Random(5005)
    engine = build_engine(database_url)
    now = datetime.now(UTC)
    tokens = FeedTokens(secret_key)
    with engine.begin() as connection:
        show_id = connection.execute(
            insert(Show).returning(Show.id),
            [
                {
                    "slug": "update",
                    "title": "Stratechery Update",
                    "description": "Daily updates.",
                    "author": "Ben Thompson",
                    "owner_name": "Stratechery",
                    "owner_email": "podcasts@example.com",
                    "language": "en",
                    "category": "Technology",
                    "explicit": False,
                    "link": "https://stratechery.com",
                    "feed_version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        ).scalar_one()
        connection.execute(
            insert(Episode),
            [
                {
                    "show_id": show_id,
                    "guid": f"bench-{i:05d}",
                    "title": f"Update {i}: " + " ".join(rng.choice(WORDS) for _ in range(6)),
                    "show_notes": show_notes(rng),
                    "status": "published",
                    "published_at": now - timedelta(days=episodes - i),
                    "free": False,
                    "kind": "episode",
                    "episode_type": "full",
                    "explicit": False,
                    "audio_key": "bench/sample.mp3",
                    "audio_mime": "audio/mpeg",
                    "audio_size": SAMPLE.stat().st_size,
                    "duration_seconds": 1800.0 + i,
                    "bitrate": 128000,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(episodes)
            ],
        )
        subscriber_ids = (
            connection.execute(
                insert(Subscriber).returning(Subscriber.id),
                [
                    {
                        "email": f"listener{i}@example.com",
                        "status": "active",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(subscribers)
                ],
            )
            .scalars()
            .all()
        )
        token_ids = [new_token_id() for _ in subscriber_ids]
        connection.execute(
            insert(FeedAccess),
            [
                {
                    "subscriber_id": sid,
                    "show_id": show_id,
                    "token_id": tid,
                    "entitled": True,
                    "created_at": now,
                }
                for sid, tid in zip(subscriber_ids, token_ids, strict=True)
            ],
        )
        last_episode = connection.execute(
            Episode.__table__.select().order_by(Episode.id.desc()).limit(1)
        ).first()
    engine.dispose()
    assert last_episode is not None
    return [tokens.token_for(t) for t in token_ids], last_episode.id


@contextmanager
def server(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "bench.app:create",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env, cwd=HERE.parent)
    try:
        wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def wrk(
    name: str,
    url: str,
    path: str,
    tokens_file: Path,
    *,
    seconds: int,
    connections: int,
    if_none_match: str = "",
    range_header: str = "",
) -> Result:
    env = os.environ | {
        "BENCH_TOKENS": str(tokens_file),
        "BENCH_PATH": path,
        "BENCH_IF_NONE_MATCH": if_none_match,
        "BENCH_RANGE": range_header,
    }
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "60s",
            "-s",
            str(HERE / "rotate.lua"),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    return Result(
        name,
        data["requests"] / (data["duration_us"] / 1e6),
        data["p50_us"] / 1000,
        data["p99_us"] / 1000,
        data["socket_errors"] + data["bad_status"],
    )


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def upload_growth(env: dict[str, str], port: int, audio: Path, admin: dict[str, str]) -> float:
    """Peak RSS growth (MB) of a fresh worker while it takes one large upload."""
    with (
        server(env, port) as process,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=1800) as client,
    ):
        client.get("/healthz").raise_for_status()
        before = rss_kib(process.pid, "VmRSS")
        with audio.open("rb") as stream:
            response = client.post(
                "/admin/shows/update/episodes",
                headers=admin,
                files={"audio": ("big.mp3", stream, "audio/mpeg")},
                data={"title": "Big upload"},
            )
        response.raise_for_status()
        return (rss_kib(process.pid, "VmHWM") - before) / 1024


def make_big_mp3(path: Path, megabytes: int) -> None:
    frames = SAMPLE.read_bytes()
    with path.open("wb") as out:
        while out.tell() < megabytes * 1024 * 1024:
            out.write(frames * 64)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--subscribers", type=int, default=10000)
    parser.add_argument("--seconds", type=int, default=10, help="per measured path")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--upload-mb", type=int, default=600)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="podpass-bench-"))
    port = free_port()
    secret_key, admin_key = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    database_url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    env = os.environ | {
        "PODPASS_ENV": "production",
        "PODPASS_SECRET_KEY": secret_key,
        "PODPASS_ADMIN_KEY": admin_key,
        "DATABASE_URL": database_url,
        "PODPASS_AUDIO_DIR": str(work / "audio"),
        "PODPASS_BASE_URL": f"http://127.0.0.1:{port}",
        "PODPASS_MAX_UPLOAD_MB": str(args.upload_mb + 16),
        "BENCH_FLOOR_BODY": str(work / "floor"),
    }
    print(f"Building {args.episodes} episodes and {args.subscribers} subscribers in {work} ...")
    tokens, episode_id = populate(
        database_url, secret_key, args.episodes, args.subscribers, work / "audio"
    )
    tokens_file = work / "tokens.txt"
    tokens_file.write_text("\n".join(tokens) + "\n")
    url = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {admin_key}"}
    results: list[Result] = []

    def measure(name: str, path: str, **options: str) -> Result:
        seconds = options.pop("seconds", None)
        connections = options.pop("connections", None)
        result = wrk(
            name,
            url,
            path,
            tokens_file,
            seconds=int(seconds or args.seconds),
            connections=int(connections or args.connections),
            **options,
        )
        print(f"  {name:<30} {result.requests_per_second:10.1f} req/s")
        results.append(result)
        return result

    with server(env, port), httpx.Client(base_url=url, timeout=600) as client:
        first = client.get(f"/p/{tokens[0]}/feed.xml", headers={"Accept-Encoding": "gzip"})
        first.raise_for_status()
        raw_size = len(first.content)
        with client.stream(
            "GET", f"/p/{tokens[1]}/feed.xml", headers={"Accept-Encoding": "gzip"}
        ) as response:
            compressed = b"".join(response.iter_raw())
        (work / "floor").write_bytes(compressed)
        etag = first.headers["etag"]
        print(f"Feed: {raw_size / 1e6:.2f} MB of XML, {len(compressed) / 1e6:.2f} MB gzipped.\n")

        feed200 = measure("feed 200 (gzip)", "/p/%s/feed.xml")
        static = measure("floor: static gzip body", "/bench/static")
        feed304 = measure("feed 304", "/p/%s/feed.xml", if_none_match=etag)
        empty = measure("floor: empty 200", "/bench/empty")
        enclosure = measure(
            "enclosure (bytes=0-1)", f"/p/%s/{episode_id}.mp3", range_header="bytes=0-1"
        )
        naive = measure("naive: feedgen + gzip -6", "/bench/naive/%s", connections="2")

        files = {"audio": ("new.mp3", SAMPLE.read_bytes(), "audio/mpeg")}
        published = client.post(
            "/admin/shows/update/episodes",
            headers=admin,
            files=files,
            data={"title": "Breaking", "publish": "true"},
        )
        published.raise_for_status()
        start = time.perf_counter()
        while True:
            poll = client.get(
                f"/p/{tokens[2]}/feed.xml",
                headers={"If-None-Match": etag, "Accept-Encoding": "gzip"},
            )
            if poll.status_code == 200 and b"Breaking" in poll.content:
                break
        republish = time.perf_counter() - start

    big = work / "big.mp3"
    make_big_mp3(big, args.upload_mb)
    growth_local = upload_growth(env, port, big, admin)

    with moto_server() as s3_url:
        s3 = boto3.client(
            "s3",
            endpoint_url=s3_url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench-secret",
        )
        s3.create_bucket(Bucket="bench")
        s3.upload_file(str(SAMPLE), "bench", "bench/sample.mp3")
        s3_env = env | {
            "PODPASS_STORAGE": "s3",
            "PODPASS_S3_BUCKET": "bench",
            "PODPASS_S3_REGION": "us-east-1",
            "PODPASS_S3_ENDPOINT_URL": s3_url,
            "PODPASS_S3_PATH_STYLE": "true",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench-secret",
        }
        with server(s3_env, port):
            s3_enclosure = measure(
                "enclosure, S3 (302 redirect)", f"/p/%s/{episode_id}.mp3", range_header="bytes=0-1"
            )
            s3_empty = measure("floor: empty 200 (S3 run)", "/bench/empty")
        growth_s3 = upload_growth(s3_env, port, big, admin)
    shutil.rmtree(work)

    print("\n| path | req/s | p50 ms | p99 ms | errors | vs. | ratio | target |")
    print("|---|---:|---:|---:|---:|---|---:|---|")
    comparisons = {
        feed200.name: (static, 0.5),
        feed304.name: (empty, 0.5),
        enclosure.name: (empty, 0.5),
        s3_enclosure.name: (s3_empty, 0.5),
    }
    for r in results:
        versus, ratio, target = "", "", ""
        if r.name in comparisons:
            floor, goal = comparisons[r.name]
            value = r.requests_per_second / floor.requests_per_second
            versus, ratio = floor.name, f"{value:.2f}"
            target = f"≥ {goal} {'✓' if value >= goal else '✗'}"
        print(
            f"| {r.name} | {r.requests_per_second:.1f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{r.errors} | {versus} | {ratio} | {target} |"
        )
    speedup = feed200.requests_per_second / naive.requests_per_second
    print(
        f"| feed 200 vs. naive | | | | | {naive.name} | {speedup:.0f}× | "
        f"≥ 100× {'✓' if speedup >= 100 else '✗'} |"
    )
    print(
        f"\nRepublish of a {args.episodes}-episode show (publish → next poll has it): "
        f"{republish:.2f} s (target ≤ 1 s {'✓' if republish <= 1 else '✗'})"
    )
    for where, growth in (("local audio/", growth_local), ("S3", growth_s3)):
        print(
            f"Upload of {args.upload_mb} MB to {where}: worker peak RSS grew {growth:.1f} MB "
            f"(target ≤ 64 MB {'✓' if growth <= 64 else '✗'})"
        )
    print(f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
