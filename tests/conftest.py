"""Fixtures: a migrated database (SQLite, or PostgreSQL when PODPASS_TEST_DATABASE_URL
says so), a real app with its lifespan, and real audio files."""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import text

from app.cli import ROOT
from app.core.clock import utcnow
from app.core.config import Settings
from app.core.db.engine import build_engine
from app.core.db.schema import Base
from app.main import create_app
from tests.servers import SmtpServer, podpass_server

FIXTURES = Path(__file__).parent / "fixtures"
CHROMIUM = "/usr/bin/chromium"
MP3 = FIXTURES / "episode.mp3"
M4A = FIXTURES / "episode.m4a"
ADMIN_KEY = secrets.token_urlsafe(32)
SECRET_KEY = secrets.token_urlsafe(32)
WEBHOOK_SECRET = secrets.token_urlsafe(32)


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logging"] = False
    config.set_main_option("sqlalchemy.url", url)
    return config


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("PODPASS_TEST_DATABASE_URL") or (
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'podpass.db'}"
    )
    config = alembic_config(url)
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    return url


def empty_tables(url: str) -> None:
    engine = build_engine(url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Iterator[Settings]:
    yield Settings(
        database_url=database_url,
        secret_key=SECRET_KEY,
        admin_key=ADMIN_KEY,
        base_url="http://testserver",
        audio_dir=tmp_path / "audio",
        max_upload_mb=2,
        renew_url="https://example.com/renew",
        webhook_secret=WEBHOOK_SECRET,
    )
    empty_tables(database_url)


class Clock:
    """The app's "now": real time plus however far a test has moved it on."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.ahead

    def advance(self, by: timedelta) -> None:
        self.ahead += by


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock)) as test_client:
        yield test_client


@pytest.fixture
def admin(client: TestClient) -> TestClient:
    client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    return client


@pytest.fixture
def show(admin: TestClient) -> dict[str, Any]:
    return create_show(admin)


SHOW = {
    "slug": "sharp-tech",
    "title": "Sharp Tech",
    "description": "Tech, sharply.",
    "author": "Ben & Andrew",
    "owner_name": "Stratechery",
    "owner_email": "podcasts@example.com",
    "link": "https://example.com/sharp-tech",
}


def create_show(admin: TestClient | httpx.Client) -> dict[str, Any]:
    response = admin.post("/admin/shows", json=SHOW)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def upload(
    admin: TestClient | httpx.Client,
    slug: str,
    path: Path = MP3,
    *,
    content: bytes | None = None,
    filename: str | None = None,
    **fields: Any,
) -> httpx.Response:
    data = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}
    files = {
        "audio": (
            filename or path.name,
            content if content is not None else path.read_bytes(),
            "application/octet-stream",
        )
    }
    return admin.post(f"/admin/shows/{slug}/episodes", data=data, files=files)


def subscribe(admin: TestClient, email: str, *shows: str) -> dict[str, Any]:
    response = admin.post("/admin/subscribers", json={"email": email, "shows": list(shows)})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def feed_path(subscriber: dict[str, Any], slug: str) -> str:
    url: str = next(f["feed_url"] for f in subscriber["feeds"] if f["show"] == slug)
    return url.removeprefix("http://testserver")


def stored_files(settings: Settings) -> list[Path]:
    root = settings.audio_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@contextmanager
def refused_writes(database_url: str, table: str, *, on: str = "INSERT") -> Iterator[None]:
    """While open, every `on` (INSERT or UPDATE) of `table` fails in the database itself, as a
    write fails when the disk is full or a constraint refuses it."""
    engine = build_engine(database_url)
    postgres = engine.dialect.name == "postgresql"
    trigger = f"refuse_{on.lower()}_{table}"
    with engine.begin() as connection:
        if postgres:
            connection.execute(
                text(
                    f"CREATE FUNCTION {trigger}() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql"
                )
            )
        action = (
            f"FOR EACH ROW EXECUTE FUNCTION {trigger}()"
            if postgres
            else "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        connection.execute(text(f"CREATE TRIGGER {trigger} BEFORE {on} ON {table} {action}"))
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(
                text(f"DROP TRIGGER {trigger}" + (f" ON {table}" if postgres else ""))
            )
            if postgres:
                connection.execute(text(f"DROP FUNCTION {trigger}()"))
        engine.dispose()


@pytest.fixture
def failing_episode_inserts(settings: Settings) -> Iterator[None]:
    with refused_writes(settings.database_url, "episodes"):
        yield


def server_env(settings: Settings) -> dict[str, str]:
    """The environment that configures a separate server process like `settings`."""
    return dict(os.environ) | {
        "DATABASE_URL": settings.database_url,
        "PODPASS_SECRET_KEY": SECRET_KEY,
        "PODPASS_ADMIN_KEY": ADMIN_KEY,
        "PODPASS_AUDIO_DIR": str(settings.audio_dir),
        "PODPASS_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PODPASS_RENEW_URL": settings.renew_url,
    }


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield launched
        launched.close()


@contextmanager
def live_podpass(settings: Settings) -> Iterator[tuple[str, httpx.Client]]:
    """A Podpass server process configured like `settings`, and an admin client for it."""
    with (
        podpass_server(server_env(settings)) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
        ) as admin,
    ):
        yield url, admin


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    """aiosmtpd, up: it keeps what it receives."""
    server = SmtpServer(tmp_path / "maildir")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[str, httpx.Client]]:
    with live_podpass(settings) as running:
        yield running
