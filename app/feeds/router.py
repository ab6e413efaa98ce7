"""Stage three of serving a feed: delivery. Each route checks who is asking (access.py),
takes the view of the prepared document for them (documents.py), and answers it:
conditional GET, gzip, HEAD, Range, and the episodes' files.

A subscriber's routes live under their secret token, /p/{token}/...; each show's free
episodes under /shows/{slug}/.... Twin routes share one function that serves the file.
"""

import hashlib
import unicodedata
from datetime import datetime
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.orm import Session
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable

from app import opml
from app.db import SessionDep
from app.deps import RowId, StorageDep, TokensDep, UrlsDep
from app.errors import NotFound, RangeUnsatisfiable
from app.feeds.access import NOT_IN_FEED, Access, Gate
from app.feeds.documents import NOTICE_AUDIO, Documents, FeedView
from app.models import TRANSCRIPT_TYPES, Episode, Show, Subscriber
from app.storage import Storage

router = APIRouter(tags=["feeds"])

Token = Annotated[str, PathParam(description="The subscriber's secret feed token.")]
Page = Annotated[int, PathParam(ge=1, le=1_000_000, description="Archive page, 1 the oldest.")]
RSS_TYPE = "application/rss+xml; charset=utf-8"
ARTWORK_TYPES = {"png": "image/png", "jpg": "image/jpeg"}


# What the lifespan built: `async def` reads them on the event loop, without a thread hop.
async def _gate(request: Request) -> Gate:
    gate: Gate = request.app.state.gate
    return gate


async def _documents(request: Request) -> Documents:
    documents: Documents = request.app.state.documents
    return documents


GateDep = Annotated[Gate, Depends(_gate)]
DocumentsDep = Annotated[Documents, Depends(_documents)]


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


def _not_modified(request: Request, etag: str, last_modified: datetime) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        wanted = _opaque(etag)
        return any(t.strip() == "*" or _opaque(t) == wanted for t in if_none_match.split(","))
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            return False
        return int(last_modified.timestamp()) <= int(since.timestamp())
    return False


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


class _LenientRange(FileResponse):
    """A malformed Range, or another unit than bytes, is ignored (RFC 9110 §14.2): the
    whole file, 200."""

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        try:
            return super()._parse_range_header(http_range, file_size)
        except MalformedRangeHeader:
            return []


def _check_range(request: Request, size: int) -> None:
    """An unsatisfiable byte range is a 416 in the JSON error shape, not Starlette's text."""
    wanted = request.headers.get("range")
    if wanted is None or request.headers.get("if-range") is not None:
        return
    try:
        _LenientRange._parse_range_header(wanted, size)
    except RangeNotSatisfiable:
        raise RangeUnsatisfiable(size) from None


def _download_name(title: str, suffix: str) -> str:
    """Content-Disposition for a title (RFC 6266): an ASCII fallback and the UTF-8 name,
    so apps that save by it (gPodder, podget) keep the title, not "4.mp3"."""
    name = "".join(c for c in title if c.isprintable() and c not in '/\\:*?"<>|').strip()[:120]
    name = (name or "episode") + suffix
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = ascii_name.replace(";", ",").replace("%", "") or f"episode{suffix}"
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _stored(
    request: Request,
    storage: Storage,
    key: str,
    mime: str,
    *,
    size: int | None,
    modified: datetime | None,
    title: str | None,
    private: bool,
) -> Response:
    """A stored file. Keys are never reused (a new upload is a new key), so the key is its
    ETag."""
    location = storage.locate(key)
    headers = {
        "Cache-Control": f"{'private' if private else 'public'}, max-age=3600",
        "ETag": f'"{hashlib.sha256(key.encode()).hexdigest()[:24]}"',
        "Accept-Ranges": "bytes",
    }
    if private:
        headers["X-Robots-Tag"] = "noindex"
    if title is not None:
        headers["Content-Disposition"] = _download_name(title, PurePosixPath(key).suffix)
    if isinstance(location, Path):
        try:
            stat = location.stat()  # here, in the worker thread, not as another thread hop
        except FileNotFoundError:
            raise NotFound("This file is missing from storage.") from None
        modified_at = datetime.fromtimestamp(stat.st_mtime).astimezone()
        headers["Last-Modified"] = formatdate(stat.st_mtime, usegmt=True)
        if _not_modified(request, headers["ETag"], modified_at):
            return Response(status_code=304, headers=headers)
        _check_range(request, stat.st_size)
        return _LenientRange(location, media_type=mime, headers=headers, stat_result=stat)
    if modified is not None:
        headers["Last-Modified"] = formatdate(modified.timestamp(), usegmt=True)
        if _not_modified(request, headers["ETag"], modified):
            return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        # A URL presigned for GET refuses HEAD on real S3, so answer it from what we know.
        known = {"Content-Length": str(size)} if size is not None else {}
        return Response(headers=headers | known | {"Content-Type": mime})
    # The presigned URL is already encoded; RedirectResponse would quote it again per request.
    return Response(status_code=302, headers={"Location": location, "Cache-Control": "no-store"})


def _audio(request: Request, storage: Storage, episode: Episode, *, private: bool) -> Response:
    return _stored(
        request,
        storage,
        episode.audio_key,
        episode.audio_mime,
        size=episode.audio_size,
        modified=episode.created_at,
        title=episode.title,
        private=private,
    )


def _chapters(episode: Episode) -> Response:
    if not episode.chapters:
        raise NotFound("This episode has no chapters.")
    return JSONResponse(episode.chapters, media_type="application/json+chapters")


def _transcript(episode: Episode, extension: str) -> Response:
    kind = TRANSCRIPT_TYPES.get(extension)
    if not episode.transcript or kind is None or kind != episode.transcript_type:
        raise NotFound(f"This episode has no transcript.{extension}.")
    return Response(episode.transcript, media_type=f"{kind}; charset=utf-8")


def _artwork(
    request: Request, storage: Storage, key: str | None, extension: str, *, private: bool
) -> Response:
    if not key or extension not in ARTWORK_TYPES or not key.endswith(f".{extension}"):
        raise NotFound(f"No artwork.{extension} here.")
    mime = ARTWORK_TYPES[extension]
    return _stored(
        request, storage, key, mime, size=None, modified=None, title=None, private=private
    )


def _listed(
    gate: Gate, session: Session, access: Access, episode_id: int, extension: str | None
) -> Episode:
    episode = gate.episode(session, access, episode_id)
    if extension is not None and not episode.audio_key.endswith(f".{extension}"):
        raise NotFound(NOT_IN_FEED)
    return episode


# A subscriber's routes. The literal ones come before /{episode_id}.{extension}.


@router.head("/p/{token}/feed.xml", include_in_schema=False)
@router.get("/p/{token}/feed.xml", response_class=Response, summary="A subscriber's RSS feed")
def get_feed(token: Token, request: Request, gate: GateDep, documents: DocumentsDep) -> Response:
    return _feed(request, documents.view(gate.subscriber(token)), private=True)


@router.head("/p/{token}/archive/{page}.xml", include_in_schema=False)
@router.get(
    "/p/{token}/archive/{page}.xml",
    response_class=Response,
    summary="An archive page of a subscriber's feed (RFC 5005)",
)
def get_archive(
    token: Token, page: Page, request: Request, gate: GateDep, documents: DocumentsDep
) -> Response:
    return _feed(request, documents.view(gate.subscriber(token), page), private=True)


@router.get(
    "/p/{token}/all.opml",
    response_class=Response,
    summary="All of a subscriber's feeds, as OPML, to add a bundle in one step",
)
def get_opml(
    token: Token, gate: GateDep, tokens: TokensDep, urls: UrlsDep, session: SessionDep
) -> Response:
    subscriber = session.get_one(Subscriber, gate.subscriber(token).subscriber_id)
    feeds = opml.subscriber_feeds(subscriber, tokens, urls)
    return Response(
        opml.render("My private podcast feeds", feeds),
        media_type=opml.MEDIA_TYPE,
        headers={
            "Content-Disposition": 'attachment; filename="podcasts.opml"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/p/{token}/{episode_id}/chapters.json",
    response_class=Response,
    summary="An episode's chapters (Podcasting 2.0 JSON)",
)
def get_chapters(token: Token, episode_id: RowId, gate: GateDep, session: SessionDep) -> Response:
    return _chapters(_listed(gate, session, gate.subscriber(token), episode_id, None))


@router.get(
    "/p/{token}/{episode_id}/transcript.{extension}",
    response_class=Response,
    summary="An episode's transcript",
)
def get_transcript(
    token: Token, episode_id: RowId, extension: str, gate: GateDep, session: SessionDep
) -> Response:
    episode = _listed(gate, session, gate.subscriber(token), episode_id, None)
    return _transcript(episode, extension)


@router.head("/p/{token}/{episode_id}/artwork.{extension}", include_in_schema=False)
@router.get(
    "/p/{token}/{episode_id}/artwork.{extension}",
    response_class=Response,
    summary="An episode's artwork",
)
def get_episode_artwork(
    token: Token,
    episode_id: RowId,
    extension: str,
    request: Request,
    gate: GateDep,
    session: SessionDep,
    storage: StorageDep,
) -> Response:
    episode = _listed(gate, session, gate.subscriber(token), episode_id, None)
    return _artwork(request, storage, episode.artwork_key, extension, private=True)


@router.head("/p/{token}/{episode_id}.{extension}", include_in_schema=False)
@router.get(
    "/p/{token}/{episode_id}.{extension}",
    response_class=Response,
    summary="An episode's audio (Range, HEAD and conditional requests too)",
)
def get_enclosure(
    token: Token,
    episode_id: RowId,
    extension: str,
    request: Request,
    gate: GateDep,
    storage: StorageDep,
) -> Response:
    audio = gate.audio(token, episode_id)  # one query: the token and the episode
    if not audio.key.endswith(f".{extension}"):
        raise NotFound(NOT_IN_FEED)
    return _stored(
        request,
        storage,
        audio.key,
        audio.mime,
        size=audio.size,
        modified=audio.uploaded_at,
        title=audio.title,
        private=True,
    )


# Public routes: each show's free feed, its artwork, and its free episodes' files.


@router.head("/notice.mp3", include_in_schema=False)
@router.get("/notice.mp3", response_class=Response, summary="The lapsed feed's spoken notice")
def get_notice() -> Response:
    return FileResponse(
        NOTICE_AUDIO, media_type="audio/mpeg", headers={"Cache-Control": "public, max-age=86400"}
    )


@router.head("/shows/{slug}/feed.xml", include_in_schema=False)
@router.get(
    "/shows/{slug}/feed.xml",
    response_class=Response,
    summary="A show's public feed of free episodes",
)
def get_public_feed(
    slug: str, request: Request, gate: GateDep, documents: DocumentsDep
) -> Response:
    return _feed(request, documents.view(gate.public(slug)), private=False)


@router.head("/shows/{slug}/archive/{page}.xml", include_in_schema=False)
@router.get(
    "/shows/{slug}/archive/{page}.xml",
    response_class=Response,
    summary="An archive page of a show's public feed (RFC 5005)",
)
def get_public_archive(
    slug: str, page: Page, request: Request, gate: GateDep, documents: DocumentsDep
) -> Response:
    return _feed(request, documents.view(gate.public(slug), page), private=False)


@router.head("/shows/{slug}/artwork.{extension}", include_in_schema=False)
@router.get("/shows/{slug}/artwork.{extension}", response_class=Response, summary="Show artwork")
def get_show_artwork(
    slug: str,
    extension: str,
    request: Request,
    gate: GateDep,
    session: SessionDep,
    storage: StorageDep,
) -> Response:
    show_id = gate.public(slug).show_id
    show = session.get_one(Show, show_id)
    return _artwork(request, storage, show.artwork_key, extension, private=False)


@router.get(
    "/shows/{slug}/episodes/{episode_id}/chapters.json",
    response_class=Response,
    summary="A free episode's chapters",
)
def get_public_chapters(
    slug: str, episode_id: RowId, gate: GateDep, session: SessionDep
) -> Response:
    return _chapters(_listed(gate, session, gate.public(slug), episode_id, None))


@router.get(
    "/shows/{slug}/episodes/{episode_id}/transcript.{extension}",
    response_class=Response,
    summary="A free episode's transcript",
)
def get_public_transcript(
    slug: str, episode_id: RowId, extension: str, gate: GateDep, session: SessionDep
) -> Response:
    return _transcript(_listed(gate, session, gate.public(slug), episode_id, None), extension)


@router.head("/shows/{slug}/episodes/{episode_id}/artwork.{extension}", include_in_schema=False)
@router.get(
    "/shows/{slug}/episodes/{episode_id}/artwork.{extension}",
    response_class=Response,
    summary="A free episode's artwork",
)
def get_public_episode_artwork(
    slug: str,
    episode_id: RowId,
    extension: str,
    request: Request,
    gate: GateDep,
    session: SessionDep,
    storage: StorageDep,
) -> Response:
    episode = _listed(gate, session, gate.public(slug), episode_id, None)
    return _artwork(request, storage, episode.artwork_key, extension, private=False)


@router.head("/shows/{slug}/episodes/{episode_id}.{extension}", include_in_schema=False)
@router.get(
    "/shows/{slug}/episodes/{episode_id}.{extension}",
    response_class=Response,
    summary="A free episode's audio",
)
def get_public_enclosure(
    slug: str,
    episode_id: RowId,
    extension: str,
    request: Request,
    gate: GateDep,
    session: SessionDep,
    storage: StorageDep,
) -> Response:
    episode = _listed(gate, session, gate.public(slug), episode_id, extension)
    return _audio(request, storage, episode, private=False)
