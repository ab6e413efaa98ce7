"""S3 storage against real S3-protocol servers over HTTP."""

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import botocore.auth
import httpx2 as httpx
import pytest
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient
from types_boto3_s3 import S3Client

from app.cli import main
from app.core.config import Settings, StorageBackend
from app.main import create_app
from app.storage import IncompleteUpload
from app.storage.s3 import S3Storage
from tests.conftest import ADMIN_KEY, MP3, create_show, feed_path, subscribe, upload
from tests.servers import ACCESS_KEY, SECRET_KEY, moto_server, rclone_server
from tests.test_feeds import enclosure_paths
from tests.test_reconcile import cli_settings

BUCKET = "podpass-audio"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def rclone_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("rclone")
    (root / BUCKET).mkdir()
    with rclone_server(root) as url:
        yield url


def s3_client(endpoint: str) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def s3_settings(settings: Settings, endpoint: str, bucket: str = BUCKET) -> Settings:
    return settings.model_copy(
        update={
            "storage": StorageBackend.S3,
            "s3_bucket": bucket,
            "s3_endpoint_url": endpoint,
            "s3_path_style": True,
            "s3_region": "us-east-1",
            "max_upload_mb": 20,
        }
    )


@pytest.fixture
def bucket(moto_url: str) -> Iterator[S3Client]:
    client = s3_client(moto_url)
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def s3_admin(settings: Settings, moto_url: str, bucket: S3Client) -> Iterator[TestClient]:
    with TestClient(create_app(s3_settings(settings, moto_url))) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        create_show(client)
        yield client


def keys(client: S3Client) -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_story_with_s3(s3_admin: TestClient, bucket: S3Client) -> None:
    episode = upload(s3_admin, "sharp-tech", title="On S3", publish=True)
    assert episode.status_code == 201, episode.text
    (key,) = keys(bucket)
    assert bucket.head_object(Bucket=BUCKET, Key=key)["ContentType"] == "audio/mpeg"

    subscriber = subscribe(s3_admin, "s3@example.com", "sharp-tech")
    (audio_path,) = enclosure_paths(s3_admin.get(feed_path(subscriber, "sharp-tech")).content)
    redirect = s3_admin.get(audio_path, follow_redirects=False)
    assert redirect.status_code in (302, 307)
    assert redirect.headers["cache-control"] == "no-store"
    location = redirect.headers["location"]
    assert "X-Amz-Signature=" in location

    ranged = httpx.get(location, headers={"Range": "bytes=0-1"})
    assert ranged.status_code == 206
    assert ranged.content == MP3.read_bytes()[:2]
    whole = httpx.get(location)
    assert whole.content == MP3.read_bytes()
    assert whole.headers["content-disposition"].endswith("filename*=UTF-8''On%20S3.mp3")

    head = s3_admin.head(audio_path)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(MP3.stat().st_size)
    assert head.headers["content-type"] == "audio/mpeg"
    assert head.headers["accept-ranges"] == "bytes"

    # A player seeking hits the enclosure again: the presigned URL is reused.
    assert s3_admin.get(audio_path, follow_redirects=False).headers["location"] == location

    s3_admin.post(f"/admin/subscribers/{subscriber['id']}/revoke")
    assert s3_admin.get(audio_path, follow_redirects=False).status_code == 410

    assert s3_admin.delete(f"/admin/episodes/{episode.json()['id']}").status_code == 204
    assert keys(bucket) == []


def test_large_uploads_go_up_in_parts(s3_admin: TestClient, bucket: S3Client) -> None:
    data = MP3.read_bytes() * 800  # about 10 MB of real MPEG frames
    response = upload(s3_admin, "sharp-tech", content=data, filename="long.mp3", title="Long")
    assert response.status_code == 201, response.text
    (key,) = keys(bucket)
    head = bucket.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-2")  # a two-part multipart upload
    assert bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data
    assert not bucket.list_multipart_uploads(Bucket=BUCKET).get("Uploads")


@pytest.mark.parametrize("where", ["unreachable", "missing-bucket"])
def test_store_refusing_an_upload_is_503(
    settings: Settings, moto_url: str, bucket: S3Client, where: str
) -> None:
    endpoint = "http://127.0.0.1:9" if where == "unreachable" else moto_url
    name = BUCKET if where == "unreachable" else "no-such-bucket"
    with TestClient(create_app(s3_settings(settings, endpoint, name))) as admin:
        admin.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        create_show(admin)
        response = upload(admin, "sharp-tech", title="T")
        assert response.status_code == 503
        assert "Nothing was saved" in response.json()["detail"]
        assert admin.get("/admin/shows/sharp-tech/episodes").json() == []
    assert keys(bucket) == []


@pytest.mark.usefixtures("failing_episode_inserts")
def test_database_failure_removes_the_s3_object(s3_admin: TestClient, bucket: S3Client) -> None:
    response = upload(s3_admin, "sharp-tech", title="T")
    assert response.status_code == 500
    assert keys(bucket) == []


def rclone_storage(settings: Settings, rclone_url: str, presign_seconds: int) -> S3Storage:
    # model_copy skips validation, so a lifetime under the 60 s minimum is possible here.
    return S3Storage.from_settings(
        s3_settings(settings, rclone_url).model_copy(update={"s3_presign_seconds": presign_seconds})
    )


def sign_at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """botocore signs with its own clock and takes none: set that clock to `moment`."""

    def clock(remove_tzinfo: bool = True) -> datetime:
        return moment.astimezone(UTC).replace(tzinfo=None) if remove_tzinfo else moment

    monkeypatch.setattr(botocore.auth, "get_current_datetime", clock)


def test_rclone_accepts_our_presigned_urls_and_refuses_forgeries(
    settings: Settings, rclone_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = rclone_storage(settings, rclone_url, 60)
    storage.save("show/a.mp3", MP3.open("rb"), "audio/mpeg")
    try:
        url = storage.locate("show/a.mp3")
        fetched = httpx.get(url)
        assert fetched.content == MP3.read_bytes(), fetched.text
        signature = url.rsplit("X-Amz-Signature=", 1)[1][:64]
        tampered = url.replace(signature, signature[::-1])
        assert httpx.get(tampered).status_code == 403
        other_key = url.replace("show/a.mp3", "show/b.mp3")
        assert httpx.get(other_key).status_code == 403

        # Signed an hour ago: rclone refuses the URL whose window has closed, and still
        # serves one whose window is open, so it is the expiry that it checks.
        with monkeypatch.context() as past:
            sign_at(past, datetime.now(UTC) - timedelta(hours=1))
            expired = rclone_storage(settings, rclone_url, 60).locate("show/a.mp3")
            still_open = rclone_storage(settings, rclone_url, 2 * 3600).locate("show/a.mp3")
        assert httpx.get(still_open).content == MP3.read_bytes()
        refused = httpx.get(expired)
        assert refused.status_code in (400, 403), refused.text  # S3 says 403, rclone 400
        assert "AccessDenied" in refused.text  # rclone: request time past X-Amz-Expires
    finally:
        storage.delete("show/a.mp3")


def test_presigning_is_cached_per_key(settings: Settings, rclone_url: str) -> None:
    storage = rclone_storage(settings, rclone_url, 600)
    first = storage.locate("x/1.mp3")
    assert storage.locate("x/1.mp3") == first
    assert storage.locate("x/2.mp3") != first


def test_stored_objects_are_listed(settings: Settings, rclone_url: str) -> None:
    storage = rclone_storage(settings, rclone_url, 600)
    storage.save("list/a.mp3", MP3.open("rb"), "audio/mpeg")
    try:
        listed = {o.key: o.size for o in storage.objects()}
        assert listed["list/a.mp3"] == MP3.stat().st_size
    finally:
        storage.delete("list/a.mp3")


def multipart_uploads(client: S3Client) -> list[str]:
    return [u["UploadId"] for u in client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]


@pytest.fixture(params=["moto", "rclone"])
def cli_on_s3(
    request: pytest.FixtureRequest, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[S3Client]:
    """The CLI pointed at an S3 store; gives a client of that store."""
    endpoint: str = request.getfixturevalue(f"{request.param}_url")
    if request.param == "moto":
        request.getfixturevalue("bucket")
    with cli_settings(s3_settings(settings, endpoint), monkeypatch):
        yield s3_client(endpoint)


def test_reconcile_aborts_abandoned_multipart_uploads(
    cli_on_s3: S3Client, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a worker killed one part into an upload leaves: started, never completed.
    key = "episodes/killed.mp3"
    upload_id = cli_on_s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    cli_on_s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=1, Body=b"x" * 999)
    try:
        main(["storage", "reconcile", "--delete"])
        report = capsys.readouterr().out
        assert f"incomplete upload  {key}  upload {upload_id}  1 part(s), 999 bytes  " in report
        assert "(recent, kept)" in report
        assert "Aborted 0 incomplete upload(s)." in report
        assert "Storage and database agree." not in report
        assert multipart_uploads(cli_on_s3) == [upload_id]

        main(["storage", "reconcile", "--grace-hours", "0"])
        report = capsys.readouterr().out
        assert "(idle longer than grace)" in report
        assert "1 incomplete upload(s) can go: run again with --delete." in report

        main(["storage", "reconcile", "--grace-hours", "0", "--delete"])
        assert "Aborted 1 incomplete upload(s)." in capsys.readouterr().out
        assert multipart_uploads(cli_on_s3) == []
        main(["storage", "reconcile"])
        assert "Storage and database agree." in capsys.readouterr().out
    finally:
        with contextlib.suppress(ClientError):
            cli_on_s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id)


@pytest.mark.usefixtures("bucket")
def test_aborting_a_finished_upload_is_not_an_error(settings: Settings, moto_url: str) -> None:
    storage = S3Storage.from_settings(s3_settings(settings, moto_url))
    gone = IncompleteUpload("episodes/x.mp3", "no-such-upload", 0, 0, datetime.now(UTC))
    storage.abort(gone)  # completed or aborted since it was listed
