"""Audio in S3 or any S3-compatible store: the only module that imports boto3."""

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.core.config import Settings
from app.core.errors import StorageUnavailable
from app.storage import IncompleteUpload, StoredObject

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import PartTypeDef

# Multipart in 8 MiB parts, two in flight and two read ahead: memory stays bounded (about
# 40 MB) whatever the file size. s3transfer's default read-ahead is ten parts.
_TRANSFER = TransferConfig(
    multipart_threshold=8 * 1024 * 1024,
    multipart_chunksize=8 * 1024 * 1024,
    max_concurrency=2,
    use_threads=True,
)
_TRANSFER.max_in_memory_upload_chunks = 2  # an s3transfer setting boto3's __init__ omits
# A presigned URL is reused for this share of its lifetime, so a player that hits the
# enclosure on every seek is not re-signed each time, and never gets a URL about to expire.
_REUSE_FRACTION = 0.5


class S3Storage:
    def __init__(self, client: "S3Client", bucket: str, presign_seconds: int) -> None:
        self.client = client
        self.bucket = bucket
        self.presign_seconds = presign_seconds
        self._urls: dict[tuple[str, str | None], tuple[str, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> "S3Storage":
        config = Config(
            s3={"addressing_style": "path" if settings.s3_path_style else "auto"},
            signature_version="s3v4",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        )
        client = boto3.client(
            "s3",
            region_name=settings.s3_region,
            endpoint_url=settings.s3_endpoint_url,
            config=config,
        )
        return cls(client, settings.s3_bucket, settings.s3_presign_seconds)

    def save(self, key: str, source: BinaryIO, content_type: str) -> None:
        source.seek(0)
        try:
            self.client.upload_fileobj(
                source,
                self.bucket,
                key,
                ExtraArgs={"ContentType": content_type},
                Config=_TRANSFER,
            )
        except (BotoCoreError, ClientError) as exc:
            # A failed multipart upload is aborted by the transfer manager; a single PUT
            # either lands whole or not at all. Delete anyway in case it landed just before
            # the error was reported.
            self._delete_quietly(key)
            raise StorageUnavailable(
                f"The audio store did not accept the upload ({_describe(exc)}). Nothing was "
                "saved; try again when the store is reachable."
            ) from exc

    def _delete_quietly(self, key: str) -> None:
        with contextlib.suppress(BotoCoreError, ClientError):
            self.delete(key)

    def delete(self, key: str) -> None:
        with self._lock:
            for cached in [c for c in self._urls if c[0] == key]:
                del self._urls[cached]
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def locate(self, key: str, disposition: str | None = None) -> str:
        now = time.monotonic()
        with self._lock:
            cached = self._urls.get((key, disposition))
        if cached is not None and cached[1] > now:
            return cached[0]
        params = {"Bucket": self.bucket, "Key": key}
        if disposition:
            params["ResponseContentDisposition"] = disposition
        url: str = self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.presign_seconds
        )
        with self._lock:
            self._urls[(key, disposition)] = (url, now + self.presign_seconds * _REUSE_FRACTION)
        return url

    def objects(self) -> Iterator[StoredObject]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                yield StoredObject(
                    key=item["Key"], size=item["Size"], modified=item["LastModified"]
                )

    def incomplete(self) -> Iterator[IncompleteUpload]:
        # A worker killed mid-upload cannot abort its multipart upload: its parts stay
        # stored (and billed) but are listed nowhere else.
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket):
            for item in page.get("Uploads", []):
                try:
                    parts = self._parts(item["Key"], item["UploadId"])
                except ClientError as exc:
                    if _is_gone(exc):  # finished or aborted since it was listed
                        continue
                    raise
                yield IncompleteUpload(
                    key=item["Key"],
                    upload_id=item["UploadId"],
                    parts=len(parts),
                    size=sum(part["Size"] for part in parts),
                    modified=max([item["Initiated"], *(part["LastModified"] for part in parts)]),
                )

    def _parts(self, key: str, upload_id: str) -> list["PartTypeDef"]:
        paginator = self.client.get_paginator("list_parts")
        pages = paginator.paginate(Bucket=self.bucket, Key=key, UploadId=upload_id)
        return [part for page in pages for part in page.get("Parts", [])]

    def abort(self, upload: IncompleteUpload) -> None:
        if upload.upload_id is None:
            raise ValueError(f"not a multipart upload: {upload.key!r}")
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=upload.key, UploadId=upload.upload_id
            )
        except ClientError as exc:
            if not _is_gone(exc):
                raise


def _is_gone(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "NoSuchUpload"


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip(": ")
    return type(exc).__name__
