"""Several uvicorn worker processes on one database, as behind a load balancer."""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from app.core.config import Settings
from tests.conftest import ADMIN_KEY, MP3, create_show, server_env
from tests.servers import podpass_server

WORKERS = 2


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log = tmp_path / "server.log"
    with podpass_server(server_env(settings), workers=WORKERS, log=log) as url:
        yield url, log


def fresh(url: str) -> httpx.Response:
    """A request on a new connection, so the kernel may hand it to any worker."""
    with httpx.Client(timeout=30) as client:
        return client.get(url)


def admin_client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60)


def wait_for_all_workers(url: str) -> None:
    seen: set[int] = set()
    for _ in range(400):
        seen.add(fresh(f"{url}/healthz").json()["worker"])
        if len(seen) == WORKERS:
            return
    pytest.fail(f"only {len(seen)} of {WORKERS} workers answered")


def test_revocation_is_honoured_by_every_worker_at_once(server: tuple[str, Path]) -> None:
    url, _ = server
    wait_for_all_workers(url)
    with admin_client(url) as admin:
        create_show(admin)
        files = {"audio": ("a.mp3", MP3.read_bytes(), "audio/mpeg")}
        admin.post("/admin/shows/sharp-tech/episodes", data={"publish": "true"}, files=files)
        subscriber = admin.post(
            "/admin/subscribers", json={"email": "w@example.com", "shows": ["sharp-tech"]}
        ).json()
        feed = subscriber["feeds"][0]["feed_url"]
        assert {fresh(feed).status_code for _ in range(20)} == {200}
        admin.post(f"/admin/subscribers/{subscriber['id']}/revoke")
        assert {fresh(feed).status_code for _ in range(20)} == {410}


def test_concurrent_writes_and_reads_never_lock(server: tuple[str, Path]) -> None:
    url, log = server
    with admin_client(url) as admin:
        create_show(admin)
        feed = admin.post(
            "/admin/subscribers", json={"email": "reader@example.com", "shows": ["sharp-tech"]}
        ).json()["feeds"][0]["feed_url"]

    def upload(i: int) -> int:
        with admin_client(url) as client:
            files = {"audio": (f"{i}.mp3", MP3.read_bytes(), "audio/mpeg")}
            return client.post(
                "/admin/shows/sharp-tech/episodes",
                data={"title": f"Episode {i}", "publish": "true"},
                files=files,
            ).status_code

    def subscribe(i: int) -> int:
        with admin_client(url) as client:
            return client.post(
                "/admin/subscribers", json={"email": f"s{i}@example.com", "shows": ["sharp-tech"]}
            ).status_code

    def read(_: int) -> int:
        return fresh(feed).status_code

    jobs: list[tuple[Callable[[int], int], int]] = (
        [(upload, i) for i in range(12)]
        + [(subscribe, i) for i in range(40)]
        + [(read, i) for i in range(120)]
    )
    jobs.sort(key=lambda job: job[1])  # interleave the kinds of work
    with ThreadPoolExecutor(max_workers=12) as pool:
        results: list[Any] = list(pool.map(lambda job: (job[0].__name__, job[0](job[1])), jobs))
    expected = {"upload": 201, "subscribe": 201, "read": 200}
    assert all(status == expected[kind] for kind, status in results), results
    assert "database is locked" not in log.read_text()
    with admin_client(url) as admin:
        assert len(admin.get("/admin/shows/sharp-tech/episodes").json()) == 12
