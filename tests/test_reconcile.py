"""`podpass storage reconcile` finds what a killed worker can leave behind."""

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.cli import main
from app.config import Settings, get_settings
from tests.conftest import stored_files, upload


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PODPASS_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("PODPASS_ADMIN_KEY", settings.admin_key)
    monkeypatch.setenv("PODPASS_AUDIO_DIR", str(settings.audio_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("cli_env")
def test_reconcile_lists_and_removes_only_old_orphans(
    admin: TestClient,
    show: dict[str, Any],
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lost = upload(admin, "sharp-tech", title="Lost").json()
    (lost_file,) = stored_files(settings)
    lost_file.unlink()  # as if the object store lost it
    kept = upload(admin, "sharp-tech", title="Kept").json()
    old_orphan = settings.audio_dir / "episodes" / "old-orphan.mp3"
    young_orphan = settings.audio_dir / "episodes" / "young-orphan.mp3"
    old_orphan.write_bytes(b"old")
    young_orphan.write_bytes(b"young")
    two_days_ago = time.time() - 48 * 3600
    os.utime(old_orphan, (two_days_ago, two_days_ago))

    main(["storage", "reconcile"])
    report = capsys.readouterr().out
    assert "old-orphan.mp3" in report
    assert "young-orphan.mp3" in report
    assert f"missing audio  episode {lost['id']} " in report
    assert f"episode {kept['id']} " not in report
    assert "run again with --delete" in report
    assert old_orphan.exists()

    main(["storage", "reconcile", "--delete"])
    assert "Deleted 1 orphan object(s)." in capsys.readouterr().out
    assert not old_orphan.exists()
    assert young_orphan.exists()
    assert len(stored_files(settings)) == 2  # the kept episode's audio and the young orphan
