"""Local files against their floors: `python -m bench.files` (make bench runs it).

One show whose episode is a 50 MB MP3 in the local audio folder, 2,000 subscribers. Podpass
runs as `make run` does (uvicorn, one worker), and behind nginx with
`PODPASS_ACCEL_REDIRECT=nginx` (nginx from Debian, one worker process, docs/production.md's
configuration). Measured in one run, each beside its floor:
- a 1 MB range straight from Podpass, against an empty 200 (target ≥ 0.5);
- a full GET of the 50 MB file straight from Podpass, against nginx's `sendfile` of the same
  file (target ≥ 0.5);
- `bytes=0-1` and the full file through nginx (token checked by Podpass, bytes sent by
  nginx), against nginx serving the file as static, with no check.
"""

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import insert, select

from app.cli import migrate
from app.core.db.engine import build_engine
from app.core.tokens import FeedTokens
from app.models import Episode, EpisodeKind
from bench.__main__ import (
    Result,
    _episode,
    _grant,
    _insert_show,
    _show,
    _subscribers,
    cpu_ticks,
    make_big_mp3,
    server,
    server_env,
    settle,
    wrk,
)
from tests.servers import free_port, wait_for_port

MEGABYTE = 1024 * 1024
TICKS = os.sysconf("SC_CLK_TCK")
NGINX_CONF = """\
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    keepalive_requests 100000;
    upstream podpass {{
        server 127.0.0.1:{upstream};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://podpass;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering off;
        }}
        # docs/production.md's location: PODPASS_ACCEL_REDIRECT=nginx hands checked files here.
        location /_podpass_audio/ {{
            internal;
            alias {audio}/;
            sendfile on;
            tcp_nopush on;
        }}
        # The floor: the same folder, served with no check at all.
        location /static/ {{
            alias {audio}/;
            sendfile on;
            tcp_nopush on;
        }}
    }}
}}
"""


def populate(database_url: str, secret_key: str, audio: Path, size: int, people: int) -> list[str]:
    """A show with one episode, the big file; every subscriber has it. Their tokens."""
    migrate(database_url)
    now = datetime.now(UTC)
    engine = build_engine(database_url)
    with engine.begin() as connection:
        show_id = _insert_show(connection, _show("sharp-tech", "Sharp Tech", "Weekly.", now))
        connection.execute(
            insert(Episode),
            [
                _episode(show_id, "big-00001", now, now)
                | {
                    "title": "A long interview",
                    "kind": EpisodeKind.EPISODE,
                    "duration_seconds": size * 8 / 128000,
                    "audio_key": "bench/big.mp3",
                    "audio_size": size,
                }
            ],
        )
        subscriber_ids = _subscribers(connection, people, now)
        tokens = _grant(connection, FeedTokens(secret_key), subscriber_ids, show_id, now)
        episode_id = connection.execute(select(Episode.id)).scalar_one()
    engine.dispose()
    assert episode_id == 1
    return tokens


@contextmanager
def nginx(work: Path, port: int, upstream: int, audio: Path) -> Iterator[subprocess.Popen[bytes]]:
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(work=work, port=port, upstream=upstream, audio=audio))
    process = subprocess.Popen(["nginx", "-p", str(work), "-c", str(conf), "-g", "daemon off;"])
    try:
        wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.files", description=__doc__)
    parser.add_argument("--megabytes", type=int, default=50, help="the big file's size")
    parser.add_argument("--seconds", type=int, default=10, help="per measured path")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--big-connections", type=int, default=4, help="for the full GETs of the big file"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 s a path, and only the rows with a target: for trying changes",
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds = 1
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    nginx_found = shutil.which("nginx") is not None

    work = Path(tempfile.mkdtemp(prefix="podpass-files-"))
    work.chmod(0o755)  # nginx's worker process runs as another user
    audio = work / "audio"
    (audio / "bench").mkdir(parents=True)
    big = audio / "bench" / "big.mp3"
    make_big_mp3(big, args.megabytes)
    size = big.stat().st_size
    port, proxied_port, nginx_port = free_port(), free_port(), free_port()
    secret_key = secrets.token_urlsafe(32)
    database_url = f"sqlite:///{work / 'files.db'}"
    env = server_env(database_url, secret_key, audio, port, work)
    tokens_file = work / "tokens.txt"
    tokens_file.write_text("\n".join(populate(database_url, secret_key, audio, size, 2000)))
    results: list[Result] = []
    comparisons: list[tuple[Result, Result, float | None]] = []  # path, floor, target

    def measure(pids: list[int], name: str, base: str, path: str, **options: object) -> Result:
        for pid in pids:
            settle(pid)
        ticks = sum(cpu_ticks(pid) for pid in pids)
        connections = options.pop("connections", args.connections)
        assert isinstance(connections, int)
        range_header = str(options.pop("range_header", ""))
        result = wrk(
            name,
            base,
            path,
            tokens_file,
            seconds=args.seconds,
            connections=connections,
            range_header=range_header,
        )
        rate = ""
        if connections == args.big_connections:  # full GETs of the big file
            rate = f" ({result.requests_per_second * size / MEGABYTE:,.0f} MB/s)"
        served = (sum(cpu_ticks(pid) for pid in pids) - ticks) / TICKS / max(1, result.requests)
        print(
            f"  {name:<48} {result.requests_per_second:10.1f} req/s{rate}; CPU per answer: "
            f"servers {served * 1e6:.0f} µs, wrk "
            f"{result.wrk_cpu_seconds / max(1, result.requests) * 1e6:.0f} µs"
        )
        results.append(result)
        return result

    direct = f"http://127.0.0.1:{port}"
    audio_path = "/p/%s/1.mp3"
    one_mb = f"bytes=0-{MEGABYTE - 1}"
    with (
        server(env, port) as podpass,
        server(
            env
            | {
                "PODPASS_ACCEL_REDIRECT": "nginx",
                "PODPASS_BASE_URL": f"http://127.0.0.1:{nginx_port}",
            },
            proxied_port,
        ) as proxied,
        httpx.Client(timeout=60) as client,
    ):
        first = client.get(
            f"{direct}/p/{tokens_file.read_text().split()[0]}/1.mp3", headers={"Range": one_mb}
        )
        if first.status_code != 206 or len(first.content) != MEGABYTE:
            sys.exit(f"A 1 MB range gave {first.status_code} with {len(first.content)} bytes.")
        pids = [podpass.pid, proxied.pid]
        ranged = measure(pids, "enclosure, 1 MB range", direct, audio_path, range_header=one_mb)
        empty = measure(pids, "floor: empty 200", direct, "/bench/empty")
        comparisons.append((ranged, empty, 0.5))
        full = measure(
            pids,
            f"enclosure, full GET of {args.megabytes} MB",
            direct,
            audio_path,
            connections=args.big_connections,
        )
        if nginx_found:
            with nginx(work, nginx_port, proxied_port, audio) as proxy:
                base = f"http://127.0.0.1:{nginx_port}"
                children = Path(f"/proc/{proxy.pid}/task/{proxy.pid}/children").read_text()
                pids += [proxy.pid, *map(int, children.split())]  # its master and worker
                sendfile = measure(
                    pids,
                    f"floor: nginx sendfile, full GET of {args.megabytes} MB",
                    base,
                    "/static/bench/big.mp3?%s",
                    connections=args.big_connections,
                )
                comparisons.append((full, sendfile, 0.5))
                proxied_empty = measure(pids, "floor: empty 200 via nginx", base, "/bench/empty")
                handed_mb = measure(
                    pids,
                    "enclosure via nginx, X-Accel-Redirect (1 MB range)",
                    base,
                    audio_path,
                    range_header=one_mb,
                )
                comparisons.append((handed_mb, proxied_empty, 0.5))
                if not args.quick:  # rows beside the targets, for what they show
                    handed = measure(
                        pids,
                        "enclosure via nginx, X-Accel-Redirect (bytes=0-1)",
                        base,
                        audio_path,
                        range_header="bytes=0-1",
                    )
                    static = measure(
                        pids,
                        "floor: nginx static file (bytes=0-1)",
                        base,
                        "/static/bench/big.mp3?%s",
                        range_header="bytes=0-1",
                    )
                    comparisons.append((handed, static, None))
                    static_mb = measure(
                        pids,
                        "floor: nginx static file, 1 MB range",
                        base,
                        "/static/bench/big.mp3?%s",
                        range_header=one_mb,
                    )
                    comparisons.append((ranged, static_mb, None))
                    comparisons.append((handed, proxied_empty, None))
                    handed_full = measure(
                        pids,
                        f"enclosure via nginx, full GET of {args.megabytes} MB",
                        base,
                        audio_path,
                        connections=args.big_connections,
                    )
                    comparisons.append((handed_full, sendfile, None))
    shutil.rmtree(work)

    print("\n| path | req/s | p50 ms | p99 ms | errors | vs. | ratio | target |")
    print("|---|---:|---:|---:|---:|---|---:|---|")
    for r in results:
        cells = (
            f"| {r.name} | {r.requests_per_second:.1f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.errors} "
        )
        against = [(floor, goal) for path, floor, goal in comparisons if path is r]
        if not against:
            print(f"{cells}| | | |")
        for floor, goal in against:
            value = r.requests_per_second / floor.requests_per_second
            target = "" if goal is None else f"≥ {goal} {'✓' if value >= goal else '✗'}"
            print(f"{cells}| {floor.name} | {value:.2f} | {target} |")
            cells = f"| {r.name} | | | | "
    if not nginx_found:
        print("nginx is not installed (apt-get install nginx-light): its rows were skipped.")
    print(f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
