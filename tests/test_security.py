"""What an unauthenticated client can cost the server, and what the logs may say."""

import logging
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError

from app.core.config import Settings
from app.core.db.engine import build_engine
from app.core.logs import RedactTokens, redact_tokens
from app.core.tokens import TOKEN_LENGTH
from app.models import Subscriber
from tests.conftest import ADMIN_KEY, SECRET_KEY, WEBHOOK_SECRET, refused_writes, server_env
from tests.servers import free_port, running

ROOT = Path(__file__).parent.parent
HUGE = 300 * 1024 * 1024  # a body the server would accept, if it came from an admin


def uvicorn_limits() -> list[str]:
    """The slow-client limits every documented way of running the server uses."""
    found = re.search(r"^UVICORN_LIMITS := (.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert found, "the Makefile defines UVICORN_LIMITS"
    return shlex.split(found.group(1))


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app under uvicorn, run with the Makefile's limits."""
    settings = Settings(
        database_url=database_url,
        secret_key=SECRET_KEY,
        admin_key=ADMIN_KEY,
        audio_dir=tmp_path_factory.mktemp("audio"),
        webhook_secret=WEBHOOK_SECRET,
    )
    port = free_port()
    command = [
        *(sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app"),
        *("--host", "127.0.0.1", "--port", str(port), *uvicorn_limits()),
    ]
    with running(command, port, env=server_env(settings)) as url:
        yield url


def status_after_partial_body(url: str, head: str, body: bytes) -> int:
    """Send the request head and only `body`, then wait for the answer. A server that
    insists on reading the whole declared body before answering never answers."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n" not in answer:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                pytest.fail("no answer: the server is waiting for the rest of the body")
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize("authorization", ["", "Authorization: Bearer wrong-key\n"])
def test_unauthenticated_admin_upload_is_refused_before_its_body_is_read(
    server: str, authorization: str
) -> None:
    head = (
        "POST /admin/shows/sharp-tech/episodes HTTP/1.1\n"
        "Host: podpass\n"
        f"{authorization}"
        "Content-Type: multipart/form-data; boundary=b\n"
        f"Content-Length: {HUGE}\n"
    )
    part = (
        b"--b\r\n"
        b'Content-Disposition: form-data; name="audio"; filename="big.mp3"\r\n'
        b"Content-Type: audio/mpeg\r\n\r\n"
    )
    assert status_after_partial_body(server, head, part + b"\xff" * 65536) == 401


def test_unsigned_webhook_declaring_a_huge_body_is_refused_unread(server: str) -> None:
    head = (
        "POST /webhooks/billing HTTP/1.1\n"
        "Host: podpass\n"
        "Content-Type: application/json\n"
        f"Content-Length: {HUGE}\n"
    )
    assert status_after_partial_body(server, head, b"{") == 413


def test_chunked_webhook_body_is_cut_off_at_1_mb(server: str) -> None:
    head = (
        "POST /webhooks/billing HTTP/1.1\n"
        "Host: podpass\n"
        "Content-Type: application/json\n"
        "Transfer-Encoding: chunked\n"
    )
    chunk = b"x" * 65536
    body = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") * 17  # just over 1 MB, unended
    assert status_after_partial_body(server, head, body) == 413


@pytest.mark.parametrize(
    "kind", ["multipart/form-data; boundary=b", "application/x-www-form-urlencoded"]
)
def test_a_large_form_to_a_public_page_is_refused_unread(server: str, kind: str) -> None:
    # The subscriber page's forms are checked after FastAPI has parsed the form, so the
    # size of what anyone may post there is capped before any of it is read.
    head = (
        "POST /my/not-a-link/reset/sharp-tech HTTP/1.1\n"
        "Host: podpass\n"
        f"Content-Type: {kind}\n"
        f"Content-Length: {20 * 1024 * 1024}\n"
    )
    assert status_after_partial_body(server, head, b"x" * 1024) == 413


def test_the_admin_key_is_checked_before_routing(client: TestClient) -> None:
    for path in ("/admin", "/admin/no-such-thing"):  # strangers learn nothing of the routes
        response = client.post(path, content=b"x")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["error"] == "unauthorized"
    lower = {"Authorization": f"bearer {ADMIN_KEY}"}
    assert client.get("/admin/subscribers", headers=lower).status_code == 200


def test_every_way_to_run_the_server_sets_the_slow_client_limits() -> None:
    limits = " ".join(uvicorn_limits())
    for name in ("--timeout-keep-alive", "--limit-concurrency", "--timeout-graceful-shutdown"):
        assert name in limits
    assert "$(UVICORN_LIMITS)" in (ROOT / "Makefile").read_text()
    assert limits in (ROOT / "Dockerfile").read_text()
    assert limits in (ROOT / "docs" / "production.md").read_text()


def dry_run(*arguments: str) -> str:
    """What `make` would run, every step included (-B), without running any of it (-n)."""
    done = subprocess.run(
        ["make", "-n", "-B", *arguments], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_make_run_installs_only_what_the_server_needs() -> None:
    run = dry_run("run", "PORT=8080", "PODPASS_BASE_URL=http://127.0.0.1:8080")
    assert "-r requirements/runtime.txt" in run
    assert "--no-deps --no-build-isolation -e .\n" in run
    assert "requirements/dev.txt" not in run
    assert "--port 8080" in run
    assert "-r requirements/dev.txt" in dry_run("test")


TOKEN = "A" * 6 + "b" * (TOKEN_LENGTH - 6)


@pytest.mark.parametrize(
    "path",
    [
        f"/p/{TOKEN}/feed.xml",
        f"/p/{TOKEN}%20/feed.xml",
        f"/p/{TOKEN}%00/feed.xml",
        f"/p/{TOKEN}A/feed.xml",
        f"/p/{TOKEN}A",
        f"/p/x{TOKEN}?ref=1",
        f"/p/{TOKEN}%0A/1.mp3",
        f"/my/{TOKEN}%20/podcasts.opml",
        f"/my/{TOKEN}'",
    ],
)
def test_every_path_segment_after_p_or_my_is_redacted(path: str) -> None:
    assert "b" * 12 not in redact_tokens(f'127.0.0.1 - "GET {path} HTTP/1.1" 200')
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, "%s %s", ("GET", path), None)
    assert RedactTokens().filter(record)
    assert "b" * 12 not in record.getMessage()
    assert "…" in record.getMessage()


@pytest.fixture
def refused_subscriber_inserts(settings: Settings) -> Iterator[None]:
    with refused_writes(settings.database_url, "subscribers"):
        yield


SECRET_EMAIL = "private.person@example.com"


@pytest.mark.usefixtures("refused_subscriber_inserts")
def test_database_errors_do_not_log_the_emails_in_them(
    admin: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = admin.post("/admin/subscribers", json={"email": SECRET_EMAIL, "shows": []})
    assert response.status_code == 500
    assert "database error" in caplog.text
    assert "INSERT INTO subscribers" in caplog.text  # the statement, without its values
    assert SECRET_EMAIL not in caplog.text


@pytest.mark.usefixtures("refused_subscriber_inserts")
def test_database_errors_carry_no_parameters(settings: Settings) -> None:
    engine = build_engine(settings.database_url)
    values: dict[str, Any] = {"email": SECRET_EMAIL, "status": "active"}
    with pytest.raises(DBAPIError) as caught, engine.begin() as connection:
        connection.execute(insert(Subscriber).values(values))
    engine.dispose()
    assert SECRET_EMAIL not in str(caught.value)
