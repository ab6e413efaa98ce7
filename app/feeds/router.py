"""Stage three of serving a feed: delivery. Each route checks who is asking (access.py),
takes the view of the prepared document for them (documents.py), and answers it:
conditional GET, gzip, HEAD, Range, and the episodes' files. Feed polls and audio requests,
and the refusals of a known token (403, 410), are handed to the analytics recorder as they
are answered: a queue append, no I/O.

A subscriber's routes live under their secret token, /p/{token}/...; each show's free
episodes under /shows/{slug}/.... Twin routes share one function that serves the file.
"""

import hashlib
import os
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable
from starlette.types import Receive, Scope, Send

from app import images
from app.analytics.recorder import Recorder
from app.core.config import AccelRedirect, Settings
from app.core.db.session import SessionDep
from app.core.deps import PageLinksDep, SettingsDep, TokensDep, UrlsDep, built
from app.core.errors import Forbidden, Gone, NotFound, PreconditionFailed, RangeUnsatisfiable
from app.core.tokens import TOKEN_ID_LENGTH
from app.feeds import opml
from app.feeds.access import NOT_IN_FEED, Access, Audio, Gate
from app.feeds.documents import NOTICE_AUDIO, PAYMENT_AUDIO, WELCOME_AUDIO, Documents, FeedView
from app.images import ARTWORK_TYPES
from app.media.zerocopy import SENDFILE, file_part
from app.models import TRANSCRIPT_TYPES, Episode, EventKind, Show, Subscriber, Welcome
from app.storage import Storage
from app.subscribers import service as subscribers


class Natural(Convertor[int]):
    """`{name:natural}` in a path: 1 to 19 digits, no leading zero. Anything else matches no
    route, so a podcast app asking for `abc.mp3` or archive page 0 gets the 404 of a file
    that is not there, not a 422. 19 digits keep int() far from Python's limit on long
    numbers; an id's own bound is checked where it is looked up (Gate)."""

    regex = "[1-9][0-9]{0,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("natural", Natural())

router = APIRouter(tags=["feeds"])

Token = Annotated[str, PathParam(description="The subscriber's secret feed token.")]
Page = Annotated[int, PathParam(description="Archive page, 1 the oldest.")]
RSS_TYPE = "application/rss+xml; charset=utf-8"


@dataclass(frozen=True)
class Stages:
    """The long-lived parts of the stages, built once in the lifespan and handed to a route
    as one dependency: each dependency FastAPI resolves costs a hot route about 15 µs."""

    gate: Gate
    documents: Documents
    storage: Storage
    recorder: Recorder | None  # None: analytics off (PODPASS_ANALYTICS=false)
    handoff: "Handoff | None" = None  # None: local files are sent by this server


StagesDep = Annotated[Stages, built("stages")]


# Who is asking, as dependencies, for the routes off the hot path (a sync dependency costs
# a thread hop of its own: the feed and audio routes check access in their own thread).


def subscriber_access(token: Token, stages: StagesDep) -> Access:
    return stages.gate.subscriber(token)


def public_access(slug: str, stages: StagesDep) -> Access:
    return stages.gate.public(slug)


SubscriberAccess = Annotated[Access, Depends(subscriber_access)]
PublicAccess = Annotated[Access, Depends(public_access)]


def subscriber_episode(
    access: SubscriberAccess, episode_id: int, stages: StagesDep, db: SessionDep
) -> Episode:
    return stages.gate.episode(db, access, episode_id)


def public_episode(
    access: PublicAccess, episode_id: int, stages: StagesDep, db: SessionDep
) -> Episode:
    return stages.gate.episode(db, access, episode_id)


SubscriberEpisode = Annotated[Episode, Depends(subscriber_episode)]
PublicEpisode = Annotated[Episode, Depends(public_episode)]


# Recording, for analytics.


def _record(
    recorder: Recorder,
    request: Request,
    kind: EventKind,
    status: int,
    *,
    token_id: str | None,
    subscriber_id: int | None = None,
    show_id: int | None = None,
    episode_id: int | None = None,
) -> None:
    """Queue the request for the recorder, which writes it later. The client's address is
    the socket's, or what uvicorn took from a trusted proxy's X-Forwarded-For."""
    headers = request.headers
    client = request.client
    recorder.record(
        kind,
        status,
        request.method,
        token_id=token_id,
        subscriber_id=subscriber_id,
        show_id=show_id,
        episode_id=episode_id,
        byte_range=headers.get("range"),
        user_agent=headers.get("user-agent", ""),
        ip=client.host if client else "",
    )


def _token_id(token: str) -> str:
    return token[:TOKEN_ID_LENGTH]


def _refused(
    stages: Stages,
    request: Request,
    kind: EventKind,
    token: str,
    refusal: Forbidden | Gone,
    episode_id: int | None = None,
) -> None:
    """Record the refusal of a known token (lapsed: 403, revoked: 410). Its holder is found
    from the token's id when the event is written."""
    if stages.recorder is not None:
        status, token_id = refusal.status_code, _token_id(token)
        _record(stages.recorder, request, kind, status, token_id=token_id, episode_id=episode_id)


# Conditional requests and content coding.


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip"):
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def _http_time(value: str) -> datetime | None:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


def _not_modified(request: Request, etag: str, last_modified: datetime | None) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        wanted = _opaque(etag)
        return any(t.strip() == "*" or _opaque(t) == wanted for t in if_none_match.split(","))
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since and last_modified is not None:
        since = _http_time(if_modified_since)
        return since is not None and int(last_modified.timestamp()) <= int(since.timestamp())
    return False


def _precondition_failed(request: Request, etag: str, last_modified: datetime | None) -> bool:
    """If-Match (a strong comparison: a weak tag never matches), else If-Unmodified-Since,
    whose failure is a 412 before anything else is looked at (RFC 9110 §13.2.2)."""
    headers = request.headers
    if_match = headers.get("if-match")
    if if_match is not None:
        return not any(t.strip() in ("*", etag) for t in if_match.split(","))
    if_unmodified_since = headers.get("if-unmodified-since")
    if if_unmodified_since and last_modified is not None:
        since = _http_time(if_unmodified_since)  # not a date: ignored, as the RFC says
        return since is not None and int(last_modified.timestamp()) > int(since.timestamp())
    return False


def _polled(request: Request, stages: Stages, access: Access, page: int) -> Response:
    """A feed (or archive page) poll, answered and recorded."""
    private = access.token is not None
    response = _feed(request, stages.documents.view(access, page), private=private)
    if stages.recorder is not None:
        _record(
            stages.recorder,
            request,
            EventKind.FEED,
            response.status_code,
            token_id=_token_id(access.token) if access.token else None,
            subscriber_id=access.subscriber_id,
            show_id=access.show_id,
        )
    return response


def _subscriber_feed(token: str, page: int, request: Request, stages: Stages) -> Response:
    try:
        access = stages.gate.subscriber(token)
    except Gone as refusal:
        _refused(stages, request, EventKind.FEED, token, refusal)
        raise
    return _polled(request, stages, access, page)


def _feed(request: Request, view: FeedView, *, private: bool) -> Response:
    headers = {
        "ETag": view.etag,
        "Last-Modified": view.last_modified_header,
        "Cache-Control": "private, no-cache" if private else "public, max-age=300",
        "Vary": "Accept-Encoding",
    }
    if private:
        headers["X-Robots-Tag"] = "noindex, nofollow"
    if _not_modified(request, view.etag, view.last_modified):
        return Response(status_code=304, headers=headers)
    if _accepts_gzip(request):
        body = view.gzip_body()
        headers["Content-Encoding"] = "gzip"
    else:
        body = view.body()
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(media_type=RSS_TYPE, headers=headers)
    return Response(body, media_type=RSS_TYPE, headers=headers)


# Stored files: audio and artwork, from the local folder or by redirect to S3.

# Under uvicorn a local file goes out with sendfile (app/zerocopy.py). Elsewhere it is read
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
    """A longer range, for the server to send with sendfile (app/zerocopy.py). FileResponse
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
        if _not_modified(self.request, etag, None):
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
        if _precondition_failed(request, headers["ETag"], modified):
            raise PreconditionFailed(
                "This file is not the version the request names: download it again from the start."
            )
        if _not_modified(request, headers["ETag"], modified):
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


async def _files(request: Request, stages: StagesDep) -> Files:
    return Files(request, stages.storage, stages.handoff)


FilesDep = Annotated[Files, Depends(_files)]


def _answered(request: Request, response: Response) -> int:
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


def _enclosure(
    files: Files,
    audio: Audio,
    extension: str,
    recorder: Recorder | None,
    *,
    token_id: str | None,
    subscriber_id: int | None,
    show_id: int,
    episode_id: int,
) -> Response:
    """An episode's audio, answered and recorded: a subscriber's, or a free one's (no token)."""
    response = files.audio(audio, extension, private=token_id is not None)
    if recorder is not None:
        status = _answered(files.request, response)
        _record(
            recorder,
            files.request,
            EventKind.AUDIO,
            status,
            token_id=token_id,
            subscriber_id=subscriber_id,
            show_id=show_id,
            episode_id=episode_id,
        )
    return response


def _chapters(episode: Episode) -> Response:
    if not episode.chapters:
        raise NotFound("This episode has no chapters.")
    return JSONResponse(episode.chapters, media_type="application/json+chapters")


def _transcript(episode: Episode, extension: str) -> Response:
    kind = TRANSCRIPT_TYPES.get(extension)
    if not episode.transcript or kind is None or kind != episode.transcript_type:
        raise NotFound(f"This episode has no transcript.{extension}.")
    return Response(episode.transcript, media_type=f"{kind}; charset=utf-8")


# A subscriber's routes. The literal ones come before /{episode_id}.{extension}.


@router.head("/p/{token}/feed.xml", include_in_schema=False)
@router.get("/p/{token}/feed.xml", response_class=Response, summary="A subscriber's RSS feed")
def get_feed(token: Token, request: Request, stages: StagesDep) -> Response:
    return _subscriber_feed(token, 0, request, stages)


@router.head("/p/{token}/archive/{page:natural}.xml", include_in_schema=False)
@router.get(
    "/p/{token}/archive/{page:natural}.xml", response_class=Response, summary="Archive page"
)
def get_archive(token: Token, page: Page, request: Request, stages: StagesDep) -> Response:
    """An older page of a subscriber's feed (RFC 5005)."""
    return _subscriber_feed(token, page, request, stages)


@router.head("/p/{token}/all.opml", include_in_schema=False)
@router.get("/p/{token}/all.opml", response_class=Response)
def get_opml(
    access: SubscriberAccess, tokens: TokensDep, urls: UrlsDep, session: SessionDep
) -> Response:
    """All of a subscriber's feeds, as OPML, to add a bundle in one step."""
    subscriber = session.get_one(Subscriber, access.subscriber_id)
    feeds = opml.subscriber_feeds(subscriber, tokens, urls)
    return Response(
        opml.render("My private podcast feeds", feeds),
        media_type=opml.MEDIA_TYPE,
        headers={
            "Content-Disposition": 'attachment; filename="podcasts.opml"',
            "Cache-Control": "private, no-store",
        },
    )


@router.head("/p/{token}/{episode_id:natural}.{extension}", include_in_schema=False)
@router.get("/p/{token}/{episode_id:natural}.{extension}", response_class=Response)
def get_enclosure(
    token: Token, episode_id: int, extension: str, request: Request, stages: StagesDep
) -> Response:
    """An episode's audio (Range, HEAD and conditional requests too)."""
    # Digits, by the path; a plain int here (the gate refuses ids beyond the column):
    # RowId's bounds cost this, the hottest route, about 10 µs a request.
    try:
        access, audio = stages.gate.audio(token, episode_id)  # one query: token and episode
    except (Forbidden, Gone) as refusal:
        _refused(stages, request, EventKind.AUDIO, token, refusal, episode_id)
        raise
    return _enclosure(
        Files(request, stages.storage, stages.handoff),
        audio,
        extension,
        stages.recorder,
        token_id=_token_id(token),
        subscriber_id=access.subscriber_id,
        show_id=access.show_id,
        episode_id=episode_id,
    )


# Public routes: each show's free feed, its artwork, and its free episodes' files.


@router.head("/p/{token}/my", include_in_schema=False)
@router.get("/p/{token}/my", response_class=RedirectResponse, status_code=303)
def get_page_via_feed(
    access: SubscriberAccess, links: PageLinksDep, urls: UrlsDep
) -> RedirectResponse:
    """The subscriber's page, from the link in their feed's welcome item: a fresh signed
    page link each time, so the feed's link never expires."""
    assert access.subscriber_id is not None
    link = subscribers.page_link(links, urls, access.subscriber_id)
    return RedirectResponse(link.url, status_code=303, headers={"Cache-Control": "no-store"})


def _spoken(path: Path) -> Response:
    return FileResponse(
        path, media_type="audio/mpeg", headers={"Cache-Control": "public, max-age=86400"}
    )


@router.head("/notice.mp3", include_in_schema=False)
@router.get("/notice.mp3", response_class=Response, summary="The lapsed feed's spoken notice")
def get_notice() -> Response:
    return _spoken(NOTICE_AUDIO)


@router.head("/welcome.mp3", include_in_schema=False)
@router.get("/welcome.mp3", response_class=Response, summary="The default spoken welcome")
def get_welcome() -> Response:
    return _spoken(WELCOME_AUDIO)


@router.head("/payment.mp3", include_in_schema=False)
@router.get("/payment.mp3", response_class=Response, summary="The payment problem, spoken")
def get_payment_notice() -> Response:
    return _spoken(PAYMENT_AUDIO)


@router.head("/shows/{slug}/feed.xml", include_in_schema=False)
@router.get("/shows/{slug}/feed.xml", response_class=Response)
def get_public_feed(slug: str, request: Request, stages: StagesDep) -> Response:
    """A show's public feed of free episodes."""
    return _polled(request, stages, stages.gate.public(slug), 0)


@router.head("/shows/{slug}/archive/{page:natural}.xml", include_in_schema=False)
@router.get("/shows/{slug}/archive/{page:natural}.xml", response_class=Response)
def get_public_archive(
    access: PublicAccess, page: Page, request: Request, stages: StagesDep
) -> Response:
    """An older page of a show's public feed (RFC 5005)."""
    return _polled(request, stages, access, page)


@router.head("/shows/{slug}/artwork.{extension}", include_in_schema=False)
@router.get("/shows/{slug}/artwork.{extension}", response_class=Response, summary="Show artwork")
def get_show_artwork(
    access: PublicAccess,
    extension: str,
    files: FilesDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """The show's artwork; until some is uploaded, its title card."""
    show = session.get_one(Show, access.show_id)
    if show.artwork_key is None and extension == "png":
        return files.title_card(show.title, settings.publisher_colour)
    return files.artwork(show.artwork_key, extension, private=False)


@router.head("/shows/{slug}/welcome.{extension}", include_in_schema=False)
@router.get("/shows/{slug}/welcome.{extension}", response_class=Response)
def get_show_welcome(
    access: PublicAccess, extension: str, files: FilesDep, session: SessionDep
) -> Response:
    """The audio a show's publisher recorded for its welcome item."""
    welcome = session.get(Welcome, access.show_id)
    if welcome is None or welcome.audio_key is None or welcome.audio_mime is None:
        raise NotFound("This show has no welcome recording.")
    size = welcome.audio_size or 0
    audio = Audio(
        welcome.audio_key, welcome.audio_mime, size, "Welcome", welcome.updated_at, "welcome"
    )
    return files.audio(audio, extension, private=False)


@router.head("/shows/{slug}/episodes/{episode_id:natural}.{extension}", include_in_schema=False)
@router.get("/shows/{slug}/episodes/{episode_id:natural}.{extension}", response_class=Response)
def get_public_enclosure(
    episode: PublicEpisode, extension: str, files: FilesDep, stages: StagesDep
) -> Response:
    """A free episode's audio."""
    return _enclosure(
        files,
        Audio.of(episode),
        extension,
        stages.recorder,
        token_id=None,
        subscriber_id=None,
        show_id=episode.show_id,
        episode_id=episode.id,
    )


# An episode's other files, each for its subscribers and, when free, for anyone.


@router.head("/p/{token}/{episode_id:natural}/chapters.json", include_in_schema=False)
@router.get(
    "/p/{token}/{episode_id:natural}/chapters.json", response_class=Response, summary="Chapters"
)
def get_chapters(episode: SubscriberEpisode) -> Response:
    return _chapters(episode)


@router.head("/shows/{slug}/episodes/{episode_id:natural}/chapters.json", include_in_schema=False)
@router.get("/shows/{slug}/episodes/{episode_id:natural}/chapters.json", response_class=Response)
def get_public_chapters(episode: PublicEpisode) -> Response:
    """A free episode's chapters."""
    return _chapters(episode)


@router.head("/p/{token}/{episode_id:natural}/transcript.{extension}", include_in_schema=False)
@router.get(
    "/p/{token}/{episode_id:natural}/transcript.{extension}",
    response_class=Response,
    summary="Transcript",
)
def get_transcript(episode: SubscriberEpisode, extension: str) -> Response:
    return _transcript(episode, extension)


@router.head(
    "/shows/{slug}/episodes/{episode_id:natural}/transcript.{extension}", include_in_schema=False
)
@router.get(
    "/shows/{slug}/episodes/{episode_id:natural}/transcript.{extension}", response_class=Response
)
def get_public_transcript(episode: PublicEpisode, extension: str) -> Response:
    """A free episode's transcript."""
    return _transcript(episode, extension)


@router.head("/p/{token}/{episode_id:natural}/artwork.{extension}", include_in_schema=False)
@router.get("/p/{token}/{episode_id:natural}/artwork.{extension}", response_class=Response)
def get_episode_artwork(episode: SubscriberEpisode, extension: str, files: FilesDep) -> Response:
    """An episode's artwork."""
    return files.artwork(episode.artwork_key, extension, private=True)


@router.head(
    "/shows/{slug}/episodes/{episode_id:natural}/artwork.{extension}", include_in_schema=False
)
@router.get(
    "/shows/{slug}/episodes/{episode_id:natural}/artwork.{extension}", response_class=Response
)
def get_public_episode_artwork(episode: PublicEpisode, extension: str, files: FilesDep) -> Response:
    """A free episode's artwork."""
    return files.artwork(episode.artwork_key, extension, private=False)
