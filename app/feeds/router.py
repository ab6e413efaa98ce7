"""Public endpoints at a subscriber's secret URL: the feed and its audio."""

from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from app.db import utcnow
from app.deps import FeedServerDep
from app.errors import NotFound
from app.feeds import service
from app.feeds.service import PreparedFeed

router = APIRouter(tags=["subscriber feeds"])

Token = Annotated[str, PathParam(description="The subscriber's secret feed token.")]
RSS_TYPE = "application/rss+xml; charset=utf-8"


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


def _validators(feed: PreparedFeed) -> dict[str, str]:
    return {
        "ETag": feed.etag,
        "Last-Modified": format_datetime(feed.last_modified, usegmt=True),
        "Cache-Control": "private, no-cache",
        "Vary": "Accept-Encoding",
        "X-Robots-Tag": "noindex, nofollow",
    }


@router.head("/p/{token}/feed.xml", include_in_schema=False)
@router.get(
    "/p/{token}/feed.xml",
    response_class=Response,
    summary="A subscriber's private RSS feed",
)
def get_feed(token: Token, request: Request, server: FeedServerDep) -> Response:
    feed = server.feed(token, utcnow())
    headers = _validators(feed)
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


@router.head("/p/{token}/{episode_id}.{extension}", include_in_schema=False)
@router.get(
    "/p/{token}/{episode_id}.{extension}",
    response_class=Response,
    summary="An episode's audio, for a subscriber",
)
def get_enclosure(
    request: Request, token: Token, episode_id: int, extension: str, server: FeedServerDep
) -> Response:
    audio = server.audio(token, episode_id, utcnow())
    if not audio.key.endswith(f".{extension}"):
        raise NotFound(service.NOT_IN_FEED)
    location = server.storage.locate(audio.key)
    headers = {"Cache-Control": "private, max-age=3600", "X-Robots-Tag": "noindex"}
    if isinstance(location, Path):
        try:
            stat = location.stat()  # here, in the worker thread, not as another thread hop
        except FileNotFoundError:
            raise NotFound("This episode's audio is missing from storage.") from None
        return FileResponse(location, media_type=audio.mime, headers=headers, stat_result=stat)
    if request.method == "HEAD":
        # A URL presigned for GET refuses HEAD on real S3, so answer it from what we know.
        return Response(
            headers=headers
            | {
                "Content-Length": str(audio.size),
                "Content-Type": audio.mime,
                "Accept-Ranges": "bytes",
            }
        )
    # The presigned URL is already encoded; RedirectResponse would quote it again per request.
    return Response(status_code=302, headers={"Location": location, "Cache-Control": "no-store"})
