"""Public endpoints: a subscriber's feed and files at their secret URL, and each show's free
feed."""

from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse

from app.db import SessionDep, utcnow
from app.deps import FeedServerDep
from app.errors import NotFound
from app.feeds import service
from app.feeds.service import FeedServer, PreparedFeed
from app.models import TRANSCRIPT_TYPES, Episode
from app.shows import service as shows
from app.storage import Storage

router = APIRouter(tags=["subscriber feeds"])

Token = Annotated[str, PathParam(description="The subscriber's secret feed token.")]
Page = Annotated[int, PathParam(ge=1, description="Archive page, 1 being the oldest.")]
RSS_TYPE = "application/rss+xml; charset=utf-8"
ARTWORK_TYPES = {"png": "image/png", "jpg": "image/jpeg"}


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


def _feed_response(request: Request, feed: PreparedFeed, token: str, *, private: bool) -> Response:
    headers = {
        "ETag": feed.etag,
        "Last-Modified": feed.last_modified_header,
        "Cache-Control": "private, no-cache" if private else "public, max-age=300",
        "Vary": "Accept-Encoding",
    }
    if private:
        headers["X-Robots-Tag"] = "noindex, nofollow"
    if _not_modified(request, feed.etag, feed.last_modified):
        return Response(status_code=304, headers=headers)
    if _accepts_gzip(request):
        body = feed.gzip_body(token)
        headers["Content-Encoding"] = "gzip"
    else:
        body = feed.body(token)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(media_type=RSS_TYPE, headers=headers)
    return Response(body, media_type=RSS_TYPE, headers=headers)


def _file_response(
    request: Request, storage: Storage, key: str, mime: str, size: int | None, *, private: bool
) -> Response:
    """Stored audio or artwork: served from the local folder, or a redirect to S3."""
    location = storage.locate(key)
    headers = {"Cache-Control": f"{'private' if private else 'public'}, max-age=3600"}
    if private:
        headers["X-Robots-Tag"] = "noindex"
    if isinstance(location, Path):
        try:
            stat = location.stat()  # here, in the worker thread, not as another thread hop
        except FileNotFoundError:
            raise NotFound("This file is missing from storage.") from None
        return FileResponse(location, media_type=mime, headers=headers, stat_result=stat)
    if request.method == "HEAD":
        # A URL presigned for GET refuses HEAD on real S3, so answer it from what we know.
        known = {"Content-Length": str(size)} if size is not None else {}
        return Response(headers=headers | known | {"Content-Type": mime, "Accept-Ranges": "bytes"})
    # The presigned URL is already encoded; RedirectResponse would quote it again per request.
    return Response(status_code=302, headers={"Location": location, "Cache-Control": "no-store"})


def _episode_file(
    request: Request, server: FeedServer, episode: Episode, name: str, *, private: bool
) -> Response:
    stem, _, extension = name.partition(".")
    if stem == "chapters" and extension == "json" and episode.chapters:
        return JSONResponse(episode.chapters, media_type="application/json+chapters")
    if (
        stem == "transcript"
        and episode.transcript
        and episode.transcript_type
        and TRANSCRIPT_TYPES.get(extension) == episode.transcript_type
    ):
        return Response(episode.transcript, media_type=f"{episode.transcript_type}; charset=utf-8")
    if stem == "artwork" and episode.artwork_key and episode.artwork_key.endswith(f".{extension}"):
        return _file_response(
            request,
            server.storage,
            episode.artwork_key,
            ARTWORK_TYPES[extension],
            None,
            private=private,
        )
    raise NotFound(f"This episode has no {name}.")


# Subscriber routes. The literal ones come before /{episode_id}.{extension}.


@router.head("/p/{token}/feed.xml", include_in_schema=False)
@router.get(
    "/p/{token}/feed.xml", response_class=Response, summary="A subscriber's private RSS feed"
)
def get_feed(token: Token, request: Request, server: FeedServerDep) -> Response:
    return _feed_response(request, server.feed(token, utcnow()), token, private=True)


@router.head("/p/{token}/archive/{page}.xml", include_in_schema=False)
@router.get(
    "/p/{token}/archive/{page}.xml",
    response_class=Response,
    summary="An archive page of a subscriber's feed (RFC 5005)",
)
def get_archive(token: Token, page: Page, request: Request, server: FeedServerDep) -> Response:
    return _feed_response(request, server.feed(token, utcnow(), page), token, private=True)


@router.get(
    "/p/{token}/all.opml",
    response_class=Response,
    summary="All of a subscriber's feeds, as OPML, to add a bundle in one step",
)
def get_opml(token: Token, server: FeedServerDep, session: SessionDep) -> Response:
    return Response(
        server.opml(session, token),
        media_type="text/x-opml; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="podcasts.opml"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/p/{token}/{episode_id}/{name}",
    response_class=Response,
    summary="An episode's chapters, transcript or artwork, for a subscriber",
)
def get_episode_file(
    token: Token,
    episode_id: int,
    name: str,
    request: Request,
    server: FeedServerDep,
    session: SessionDep,
) -> Response:
    episode = server.episode(session, episode_id, utcnow(), token=token)
    return _episode_file(request, server, episode, name, private=True)


@router.head("/p/{token}/{episode_id}.{extension}", include_in_schema=False)
@router.get(
    "/p/{token}/{episode_id}.{extension}",
    response_class=Response,
    summary="An episode's audio, for a subscriber (Range and HEAD too)",
)
def get_enclosure(
    request: Request, token: Token, episode_id: int, extension: str, server: FeedServerDep
) -> Response:
    audio = server.audio(token, episode_id, utcnow())
    if not audio.key.endswith(f".{extension}"):
        raise NotFound(service.NOT_IN_FEED)
    return _file_response(request, server.storage, audio.key, audio.mime, audio.size, private=True)


# Public routes: each show's free feed, its artwork, and its free episodes' files.


@router.head("/notice.mp3", include_in_schema=False)
@router.get("/notice.mp3", response_class=Response, summary="The lapsed feed's spoken notice")
def get_notice() -> Response:
    return FileResponse(
        service.NOTICE_AUDIO,
        media_type="audio/mpeg",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.head("/shows/{slug}/feed.xml", include_in_schema=False)
@router.get(
    "/shows/{slug}/feed.xml",
    response_class=Response,
    summary="A show's public feed of free episodes",
)
def get_public_feed(slug: str, request: Request, server: FeedServerDep) -> Response:
    return _feed_response(request, server.public_feed(slug, utcnow()), "", private=False)


@router.head("/shows/{slug}/archive/{page}.xml", include_in_schema=False)
@router.get(
    "/shows/{slug}/archive/{page}.xml",
    response_class=Response,
    summary="An archive page of a show's public feed (RFC 5005)",
)
def get_public_archive(slug: str, page: Page, request: Request, server: FeedServerDep) -> Response:
    feed = server.public_feed(slug, utcnow(), page)
    return _feed_response(request, feed, "", private=False)


@router.head("/shows/{slug}/artwork.{extension}", include_in_schema=False)
@router.get(
    "/shows/{slug}/artwork.{extension}", response_class=Response, summary="A show's artwork"
)
def get_show_artwork(
    slug: str, extension: str, request: Request, server: FeedServerDep, session: SessionDep
) -> Response:
    show = shows.get(session, slug)
    if not show.artwork_key or not show.artwork_key.endswith(f".{extension}"):
        raise NotFound(f"{show.title} has no artwork here.")
    return _file_response(
        request, server.storage, show.artwork_key, ARTWORK_TYPES[extension], None, private=False
    )


@router.get(
    "/shows/{slug}/episodes/{episode_id}/{name}",
    response_class=Response,
    summary="A free episode's chapters, transcript or artwork",
)
def get_public_episode_file(
    slug: str,
    episode_id: int,
    name: str,
    request: Request,
    server: FeedServerDep,
    session: SessionDep,
) -> Response:
    episode = server.episode(session, episode_id, utcnow(), slug=slug)
    return _episode_file(request, server, episode, name, private=False)


@router.head("/shows/{slug}/episodes/{episode_id}.{extension}", include_in_schema=False)
@router.get(
    "/shows/{slug}/episodes/{episode_id}.{extension}",
    response_class=Response,
    summary="A free episode's audio",
)
def get_public_enclosure(
    slug: str,
    episode_id: int,
    extension: str,
    request: Request,
    server: FeedServerDep,
    session: SessionDep,
) -> Response:
    episode = server.episode(session, episode_id, utcnow(), slug=slug)
    if not episode.audio_key.endswith(f".{extension}"):
        raise NotFound(service.NOT_IN_FEED)
    return _file_response(
        request,
        server.storage,
        episode.audio_key,
        episode.audio_mime,
        episode.audio_size,
        private=False,
    )
