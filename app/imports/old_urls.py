"""Old feed URLs from a publisher's previous host: how they are keyed, where one leads now, and
the server's answer for them once the old domain points here.

That answer is not a route: it is the app's answer for a path that no route takes
(Starlette's `Router.default`), so it costs the feed and audio paths nothing, shadows no route
added later, and leaves the answers to other methods as they were. Only a GET or HEAD that
would otherwise be a 404 looks up the old URLs (one indexed query). Apart from the imports
themselves, so that serving needs neither the feed parser nor the rest of an import."""

from datetime import datetime
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from fastapi import FastAPI, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.db.session import transaction
from app.core.errors import Gone, InvalidInput, NotFound
from app.core.tokens import FeedTokens
from app.core.urls import Urls
from app.models import FeedAccess, OldFeedUrl, Show, Subscriber, SubscriberStatus
from app.shows import service as shows


class _OldUrlRow(NamedTuple):
    host: str
    imported_token_id: str | None
    current_token_id: str | None
    status: str | None
    slug: str


def moved_feed(
    session: Session, tokens: FeedTokens, urls: Urls, *, host: str, path: str
) -> str | None:
    """Where an old feed URL lives now, or None if it is no old feed URL of ours. A private
    feed's old URL follows its new one: 410 once revoked, gone (404) once rotated."""
    rows = [
        _OldUrlRow(*row)
        for row in session.execute(
            select(OldFeedUrl.host, OldFeedUrl.token_id, FeedAccess.token_id, Subscriber.status)
            .add_columns(Show.slug)
            .join(Show, Show.id == OldFeedUrl.show_id)
            .outerjoin(FeedAccess, FeedAccess.id == OldFeedUrl.feed_access_id)
            .outerjoin(Subscriber, Subscriber.id == FeedAccess.subscriber_id)
            .where(OldFeedUrl.path == path, OldFeedUrl.host.in_((host.lower(), "")))
        )
    ]
    if not rows:
        return None
    row = max(rows, key=lambda r: r.host != "")  # this host's, before any host's
    if row.imported_token_id is None:
        return urls.public_feed(row.slug)
    if row.current_token_id != row.imported_token_id:
        raise NotFound("No feed at this address. Ask the publisher for your feed link.")
    if row.status == SubscriberStatus.REVOKED:
        raise Gone("This feed has been switched off. Contact the publisher for access.")
    return urls.feed(tokens.token_for(row.imported_token_id))


class OldUrlKey(NamedTuple):
    host: str  # lower-cased; '' answers on any host
    path: str  # decoded, with the query string as sent


def old_url_key(url: str, *, any_host: bool = False) -> OldUrlKey:
    parts = urlsplit(url)
    path = unquote(parts.path) or "/"
    return OldUrlKey(
        "" if any_host else (parts.hostname or "").lower(),
        f"{path}?{parts.query}" if parts.query else path,
    )


def public_feed_moved(session: Session, show: Show, old_url: str, *, now: datetime) -> None:
    key = old_url_key(old_url)
    existing = session.scalar(
        select(OldFeedUrl).where(OldFeedUrl.host == key.host, OldFeedUrl.path == key.path)
    )
    if existing is not None and existing.show_id != show.id:
        raise InvalidInput(f"{old_url} already leads to another show's feed.")
    if existing is None:
        session.add(OldFeedUrl(host=key.host, path=key.path, show_id=show.id))
    if show.previous_feed_url != old_url:
        show.previous_feed_url = old_url
        shows.touch(show, now=now)  # the public feed now announces itunes:new-feed-url
    session.flush()


class OldFeedUrls:
    """A 301 to the feed an old URL belonged to; clients such as Apple Podcasts and gPodder
    store the new address. Any other path is the 404 it always was."""

    def __init__(self, not_found: ASGIApp) -> None:
        self.not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            location = await run_in_threadpool(self._moved_to, Request(scope))
            if location is not None:
                await Response(status_code=301, headers={"Location": location})(
                    scope, receive, send
                )
                return
        await self.not_found(scope, receive, send)

    @staticmethod
    def _moved_to(request: Request) -> str | None:
        state = request.app.state
        query = request.scope["query_string"].decode("latin-1")
        old = request.scope["path"] + (f"?{query}" if query else "")
        with transaction(state.db.reader) as session:
            return moved_feed(
                session, state.tokens, state.urls, host=request.url.hostname or "", path=old
            )


def install_old_feed_urls(app: FastAPI) -> None:
    app.router.default = OldFeedUrls(app.router.default)
