"""The storage back end the settings choose, built once per process."""

from app.core.config import Settings, StorageBackend
from app.storage import Storage
from app.storage.local import LocalStorage


def build_storage(settings: Settings) -> Storage:
    if settings.storage is StorageBackend.S3:
        # Imported only when chosen: boto3 costs each worker about 30 MB of memory.
        from app.storage.s3 import S3Storage

        return S3Storage.from_settings(settings)
    return LocalStorage(settings.audio_dir)
