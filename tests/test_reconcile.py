"""`podpass storage reconcile` finds what a killed worker can leave behind."""

import io
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.cli import main
from app.core.config import Settings, StorageBackend, get_settings
from app.storage import IncompleteUpload
from app.storage.local import LocalStorage
from tests.conftest import stored_files, upload


@contextmanager
def cli_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI reads its settings from the environment, as in production."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PODPASS_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("PODPASS_ADMIN_KEY", settings.admin_key)
    monkeypatch.setenv("PODPASS_AUDIO_DIR", str(settings.audio_dir))
    monkeypatch.setenv("PODPASS_STORAGE", settings.storage.value)
    if settings.storage is StorageBackend.S3:
        monkeypatch.setenv("PODPASS_S3_BUCKET", settings.s3_bucket)
        monkeypatch.setenv("PODPASS_S3_ENDPOINT_URL", settings.s3_endpoint_url or "")
        monkeypatch.setenv("PODPASS_S3_PATH_STYLE", str(settings.s3_path_style).lower())
        monkeypatch.setenv("PODPASS_S3_REGION", settings.s3_region or "")
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with cli_settings(settings, monkeypatch):
        yield


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


class Killed(BaseException):
    """The process dying mid-write (kill -9): no clean-up code runs."""


class DiesMidway(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        if self.tell() > 0:
            raise Killed
        return super().read(size)


def killed_upload(storage: LocalStorage, key: str) -> IncompleteUpload:
    before = {upload.key for upload in storage.incomplete()}
    with pytest.raises(Killed):
        storage.save(key, DiesMidway(b"x" * 3 * 1024 * 1024), "audio/mpeg")
    (left,) = [upload for upload in storage.incomplete() if upload.key not in before]
    return left


@pytest.mark.usefixtures("cli_env")
def test_reconcile_aborts_only_old_unfinished_local_uploads(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = LocalStorage(settings.audio_dir)
    old = killed_upload(storage, "episodes/old.mp3")
    two_days_ago = time.time() - 48 * 3600
    os.utime(settings.audio_dir / old.key, (two_days_ago, two_days_ago))
    young = killed_upload(storage, "episodes/young.mp3")
    assert old.size == young.size == 1024 * 1024  # the first chunk was written
    assert list(storage.objects()) == []  # a partial file is not an object

    main(["storage", "reconcile"])
    report = capsys.readouterr().out
    assert f"incomplete upload  {old.key}  1048576 bytes  " in report
    assert "(idle longer than grace)" in report
    assert f"incomplete upload  {young.key}  1048576 bytes  " in report
    assert "(recent, kept)" in report
    assert "orphan object" not in report
    assert "1 incomplete upload(s) can go: run again with --delete." in report
    assert "Storage and database agree." not in report

    main(["storage", "reconcile", "--delete"])
    assert "Aborted 1 incomplete upload(s)." in capsys.readouterr().out
    assert [upload.key for upload in storage.incomplete()] == [young.key]
    assert (settings.audio_dir / young.key).exists()


def test_local_abort_touches_only_unfinished_uploads(settings: Settings) -> None:
    storage = LocalStorage(settings.audio_dir)
    storage.save("episodes/done.mp3", io.BytesIO(b"done"), "audio/mpeg")
    (done,) = storage.objects()
    fake = IncompleteUpload(done.key, None, None, done.size, done.modified)
    with pytest.raises(ValueError, match="not an unfinished upload"):
        storage.abort(fake)
    assert (settings.audio_dir / "episodes/done.mp3").read_bytes() == b"done"
