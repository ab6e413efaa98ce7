"""Stored files, answered: audio and artwork from the local folder (sent with sendfile, or
handed to the reverse proxy in front), or by redirect to S3; with Range, HEAD and conditional
requests, and names that apps save them under. The one place that leans on Starlette's
FileResponse internals (`_parse_range_header`, `_should_use_range`), pinned by
tests/test_delivery.py."""

import hashlib
import os
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import FileResponse
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable
from starlette.types import Receive, Scope, Send

from app import images
from app.core.config import AccelRedirect, Settings
from app.core.errors import NotFound, PreconditionFailed, RangeUnsatisfiable
from app.images import ARTWORK_TYPES
from app.media.conditional import not_modified, precondition_failed
from app.media.zerocopy import SENDFILE, file_part
from app.models import Episode
from app.storage import Storage

NOT_IN_FEED = "No such episode in this feed."


def plain_name(episode_id: int) -> str:
    """A download's name when its title gives none."""
    return f"episode-{episode_id}"


@dataclass(frozen=True, slots=True)
class Audio:
    """An episode's audio file, as the enclosure routes serve it."""

    key: str
    mime: str
    size: int
    title: str
    uploaded_at: datetime
    plain_name: str = "episode"  # a download's name when its title gives none

    @classmethod
    def of(cls, episode: Episode) -> "Audio":
        return cls(
            episode.audio_key,
            episode.audio_mime,
            episode.audio_size,
            episode.title,
            episode.created_at,
            plain_name(episode.id),
        )


# Under uvicorn a local file goes out with sendfile (zerocopy.py). Elsewhere it is read
# and sent in chunks of this size: a response holds no more of its file at a time (for a
# slow client, about that much waits in the socket's buffer). Starlette's 64 KiB chunks
# cost a thread hop each: a full 50 MB GET went at 0.28 of nginx's sendfile of the file,
# 0.66 with these, 1.02 with sendfile (`python -m bench.files`).
CHUNK = 256 * 1024


class _LenientRange(FileResponse):
    """A malformed Range, or another unit than bytes, is ignored (RFC 9110 §14.2): the
    whole file, 200. A range past the end is a 416 in the JSON error shape (raised before
    anything is sent, so the error handler answers it), not Starlette's plain text."""

    chunk_size = CHUNK

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        try:
            return super()._parse_range_header(http_range, file_size)
        except MalformedRangeHeader:
            return []
        except RangeNotSatisfiable:
            raise RangeUnsatisfiable(file_size) from None


class _HandedOff(Response):
    """A local file's headers, its bytes left to the reverse proxy in front, which answers
    Range and HEAD as `file` would have."""

    def __init__(self, file: _LenientRange, headers: dict[str, str]) -> None:
        super().__init__(status_code=200, headers=headers, media_type=file.media_type)
        self.file = file


@dataclass(frozen=True)
class Handoff:
    """Hands a checked local file to nginx (X-Accel-Redirect to an internal location that
    maps to the audio folder) or to a proxy that reads X-Sendfile (its absolute path)."""

    mode: AccelRedirect
    prefix: str  # nginx's internal location

    @classmethod
    def from_settings(cls, settings: Settings) -> "Handoff | None":
        if settings.accel_redirect is AccelRedirect.OFF:
            return None
        return cls(settings.accel_redirect, settings.accel_prefix)

    def response(self, file: _LenientRange, key: str, headers: dict[str, str]) -> Response:
        if self.mode is AccelRedirect.NGINX:
            headers = headers | {"X-Accel-Redirect": self.prefix + quote(key)}
        else:
            headers = headers | {"X-Sendfile": str(file.path)}
        return _HandedOff(file, headers)


# Ranges this short are read in the request's own thread and answered in one piece:
# FileResponse would take four more thread hops to open, seek, read and close the file for
# Apple's two-byte probe.
SMALL_RANGE = CHUNK


def _single_range(request: Request, file: _LenientRange, size: int) -> tuple[int, int] | None:
    """The one range a GET asks for and FileResponse would answer with a 206, if so."""
    http_range = request.headers.get("range")
    if http_range is None or request.method != "GET":
        return None
    if_range = request.headers.get("if-range")
    if if_range is not None and not file._should_use_range(if_range):
        return None
    try:
        ranges = file._parse_range_header(http_range, size)
    except RangeUnsatisfiable:
        return None  # FileResponse refuses it, as it is sent
    return ranges[0] if len(ranges) == 1 else None


class _FilePart(Response):
    """A longer range, for the server to send with sendfile (zerocopy.py). FileResponse
    would send it so too, after starting a task and a task group to watch for the listener
    leaving (uvicorn speaks ASGI 2.3); sendfile finds that out by itself."""

    def __init__(self, path: Path, start: int, end: int, size: int, headers: dict[str, str]):
        part = {
            "Content-Range": f"bytes {start}-{end - 1}/{size}",
            "Content-Length": str(end - start),
        }
        super().__init__(status_code=206, headers=headers | part)
        self.part = file_part(str(path), start, end - start)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 206, "headers": self.raw_headers})
        await send(self.part)


def _read(path: Path, start: int, end: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, end - start, start)
    finally:
        os.close(fd)


# Characters a file system refuses (Windows', the strictest), dropped; path separators,
# a word break. A leading dot would hide the file; a leading dash reads as an option.
_REFUSED = str.maketrans("", "", '*?"<>|:')
_SEPARATORS = str.maketrans("/\\", "--")


def _file_stem(text: str) -> str:
    text = "".join(c for c in text if c.isprintable()).translate(_REFUSED).translate(_SEPARATORS)
    return " ".join(text.split())[:120].lstrip(".- ").rstrip(". ")


@lru_cache(maxsize=4096)  # per request on the audio path: the same few episodes, over and over
def _download_name(title: str, plain: str, suffix: str) -> str:
    """Content-Disposition for a title (RFC 6266), so that apps that save by it keep the
    title, not "4.mp3": the UTF-8 name (RFC 8187), which wget and browsers prefer, and an
    ASCII one, which gPodder takes. A title with no Latin letter is `plain` in ASCII
    (episode-4), so that such episodes do not all save as ".mp3"."""
    stem = _file_stem(title) or plain
    ascii_stem = _file_stem(unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode())
    if not any(c.isalpha() for c in ascii_stem):
        ascii_stem = plain
    ascii_name = ascii_stem.replace(";", ",").replace("%", "") + suffix
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(stem + suffix, safe='')}"


@lru_cache(maxsize=4096)
def _http_date(moment: datetime) -> str:
    return formatdate(moment.timestamp(), usegmt=True)


@lru_cache(maxsize=4096)
def _key_etag(key: str) -> str:
    return f'"{hashlib.sha256(key.encode()).hexdigest()[:24]}"'


@dataclass(frozen=True)
class Files:
    """Stored files answered for one request: from the local folder, or by redirect to S3.
    Keys are never reused (a new upload is a new key), so a key is its file's ETag."""

    request: Request
    storage: Storage
    handoff: Handoff | None = None

    def audio(self, audio: Audio, extension: str, *, private: bool) -> Response:
        if not audio.key.endswith(f".{extension}"):
            raise NotFound(NOT_IN_FEED)
        suffix = PurePosixPath(audio.key).suffix
        disposition = _download_name(audio.title, audio.plain_name, suffix)
        headers = {"Content-Disposition": disposition}
        return self._stored(audio.key, audio.mime, audio.size, audio.uploaded_at, headers, private)

    def artwork(self, key: str | None, extension: str, *, private: bool) -> Response:
        if not key or extension not in ARTWORK_TYPES or not key.endswith(f".{extension}"):
            raise NotFound(f"No artwork.{extension} here.")
        return self._stored(key, ARTWORK_TYPES[extension], None, None, {}, private)

    def title_card(self, title: str, colour: str) -> Response:
        etag = _key_etag(f"title-card:{colour}:{title}")
        headers = {"Cache-Control": "public, max-age=3600", "ETag": etag}
        if not_modified(self.request, etag, None):
            return Response(status_code=304, headers=headers)
        return Response(images.title_card(title, colour), media_type="image/png", headers=headers)

    def _stored(
        self,
        key: str,
        mime: str,
        size: int | None,
        modified: datetime | None,
        extra: dict[str, str],
        private: bool,
    ) -> Response:
        request = self.request
        location = self.storage.locate(key, extra.get("Content-Disposition"))
        headers = extra | {
            "Cache-Control": f"{'private' if private else 'public'}, max-age=3600",
            "ETag": _key_etag(key),
            "Accept-Ranges": "bytes",
        }
        if private:
            headers["X-Robots-Tag"] = "noindex"
        if isinstance(location, Path):
            try:
                stat = location.stat()  # here, in the worker thread, not as another thread hop
            except FileNotFoundError:
                raise NotFound("This file is missing from storage.") from None
            modified = datetime.fromtimestamp(stat.st_mtime, UTC)
            size = stat.st_size
        if modified is not None:
            headers["Last-Modified"] = _http_date(modified)
        if precondition_failed(request, headers["ETag"], modified):
            raise PreconditionFailed(
                "This file is not the version the request names: download it again from the start."
            )
        if not_modified(request, headers["ETag"], modified):
            return Response(status_code=304, headers=headers)
        if isinstance(location, Path):
            return self._local(key, location, mime, headers, stat)
        if request.method == "HEAD":
            # A URL presigned for GET refuses HEAD on real S3, so answer it from what we know.
            known = {"Content-Length": str(size)} if size is not None else {}
            return Response(headers=headers | known | {"Content-Type": mime})
        # The presigned URL is already encoded; RedirectResponse would quote it again.
        return Response(
            status_code=302, headers={"Location": location, "Cache-Control": "no-store"}
        )

    def _local(
        self, key: str, path: Path, mime: str, headers: dict[str, str], stat: os.stat_result
    ) -> Response:
        file = _LenientRange(path, media_type=mime, headers=headers, stat_result=stat)
        if self.handoff is not None:
            return self.handoff.response(file, key, headers)
        single = _single_range(self.request, file, stat.st_size)
        if single is None:
            return file
        start, end = single
        if end - start > SMALL_RANGE:
            if SENDFILE in (self.request.scope.get("extensions") or {}):
                return _FilePart(path, start, end, stat.st_size, headers | {"Content-Type": mime})
            return file
        data = _read(path, start, end)
        if len(data) != end - start:  # the file shrank: let FileResponse tell
            return file
        content_range = {"Content-Range": f"bytes {start}-{end - 1}/{stat.st_size}"}
        return Response(data, 206, headers | content_range, media_type=mime)


async def _files(request: Request) -> Files:
    state = request.app.state
    return Files(request, state.storage, state.handoff)


# The stored files of a request, as a dependency (the console's pages use it too).
FilesDep = Annotated[Files, Depends(_files)]


def answered(request: Request, response: Response) -> int:
    """The status a response answers with. A local file's 200 turns into a 206 for a Range
    (or a 416 for one past the end) only as it is sent: work out which, as it will."""
    http_range = request.headers.get("range")
    if isinstance(response, _HandedOff):
        response = response.file  # the proxy answers as it would
    if (
        not isinstance(response, _LenientRange)
        or response.status_code != 200
        or http_range is None
        or response.stat_result is None
    ):
        return response.status_code
    if_range = request.headers.get("if-range")
    if if_range is not None and not response._should_use_range(if_range):
        return 200
    try:
        ranges = response._parse_range_header(http_range, response.stat_result.st_size)
    except RangeUnsatisfiable as refused:
        return refused.status_code
    return 206 if ranges else 200
