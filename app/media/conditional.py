"""Conditional requests (RFC 9110 §13) and content coding, for feeds and files alike."""

from datetime import datetime
from email.utils import parsedate_to_datetime

from starlette.requests import Request


def accepts_gzip(request: Request) -> bool:
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


def not_modified(request: Request, etag: str, last_modified: datetime | None) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        wanted = _opaque(etag)
        return any(t.strip() == "*" or _opaque(t) == wanted for t in if_none_match.split(","))
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since and last_modified is not None:
        since = _http_time(if_modified_since)
        return since is not None and int(last_modified.timestamp()) <= int(since.timestamp())
    return False


def precondition_failed(request: Request, etag: str, last_modified: datetime | None) -> bool:
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
