"""The real app plus the yardsticks it is measured against, on the same stack.

Only the stable edges of the app are used here (the ORM models, the token signer, the URL
builder and the feedgen adapter), so the bench keeps working while `app/feeds/` changes.
"""

import gzip
import os
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Response
from fastapi import Path as PathParam
from sqlalchemy import select

from app.core.clock import utcnow
from app.core.db.session import SessionDep
from app.core.deps import TokensDep, UrlsDep
from app.core.errors import NotFound
from app.feeds.render import FeedLinks, render_feed
from app.main import create_app
from app.models import Episode, EpisodeStatus, FeedAccess, Show, Subscriber, SubscriberStatus

RSS = "application/rss+xml; charset=utf-8"


def create() -> FastAPI:
    app = create_app()
    floor_dir = Path(os.environ["BENCH_FLOOR_DIR"])
    floors: dict[str, bytes] = {}

    @app.get("/bench/empty")
    def empty() -> Response:
        return Response(b"")

    @app.get("/bench/static/{slug}")
    def static(slug: Annotated[str, PathParam(pattern=r"^[a-z-]+$")]) -> Response:
        """One pre-compressed body of that show's feed size, from memory."""
        if slug not in floors:
            floors[slug] = (floor_dir / f"{slug}.gz").read_bytes()
        return Response(floors[slug], media_type=RSS, headers={"Content-Encoding": "gzip"})

    @app.get("/bench/naive/{token}")
    def naive(token: str, session: SessionDep, tokens: TokensDep, urls: UrlsDep) -> Response:
        """What a straightforward server does: feedgen and gzip level 6 on every request."""
        show = session.scalars(
            select(Show)
            .join(FeedAccess, FeedAccess.show_id == Show.id)
            .join(Subscriber, Subscriber.id == FeedAccess.subscriber_id)
            .where(
                FeedAccess.token_id == tokens.token_id_of(token),
                FeedAccess.entitled.is_(True),
                Subscriber.status == SubscriberStatus.ACTIVE,
            )
        ).one_or_none()
        if show is None:
            raise NotFound("No feed at this address.")
        episodes = session.scalars(
            select(Episode)
            .where(
                Episode.show_id == show.id,
                Episode.status == EpisodeStatus.PUBLISHED,
                Episode.published_at <= utcnow(),
            )
            .order_by(Episode.published_at.desc(), Episode.id.desc())
        ).all()
        links = FeedLinks(
            feed=urls.feed(token),
            canonical=urls.public_feed(show.slug),
            show_artwork=urls.show_artwork(show.slug, show.artwork_key),
            files=urls.private(token),
        )
        body = gzip.compress(render_feed(show, episodes, links, private=True), 6)
        return Response(body, media_type=RSS, headers={"Content-Encoding": "gzip"})

    return app
