"""The real app plus the yardsticks it is measured against, on the same stack."""

import gzip
import os
from pathlib import Path

from fastapi import FastAPI, Response

from app.db import SessionDep, utcnow
from app.deps import SettingsDep, TokensDep
from app.feeds import service
from app.feeds.render import FeedLinks, render_feed
from app.main import create_app
from app.models import Show

RSS = "application/rss+xml; charset=utf-8"


def create() -> FastAPI:
    app = create_app()
    floor_file = Path(os.environ["BENCH_FLOOR_BODY"])
    floor: dict[str, bytes] = {}

    @app.get("/bench/empty")
    def empty() -> Response:
        return Response(b"")

    @app.get("/bench/static")
    def static() -> Response:
        """One pre-compressed body of the feed's size, from memory."""
        if "body" not in floor:
            floor["body"] = floor_file.read_bytes()
        return Response(floor["body"], media_type=RSS, headers={"Content-Encoding": "gzip"})

    @app.get("/bench/naive/{token}")
    def naive(
        token: str, session: SessionDep, tokens: TokensDep, settings: SettingsDep
    ) -> Response:
        """What a straightforward server does: feedgen and gzip level 6 on every request."""

        def lookup(token_id: str) -> service.Row | None:
            row = session.execute(service.ACCESS, {"token_id": token_id}).one_or_none()
            return tuple(row) if row is not None else None

        access = service.resolve(lookup, tokens, token)
        show = session.get_one(Show, access.show_id)
        episodes, _ = service.visible_episodes(session, show.id, now=utcnow())
        base = settings.public_base_url
        links = FeedLinks(
            feed=service.feed_url(base, token),
            canonical=service.public_feed_url(base, show.slug),
            show_artwork=None,
            episode_files=lambda e: f"{base}/p/{token}/{e.id}",
        )
        body = gzip.compress(render_feed(show, episodes, links, private=True), 6)
        return Response(body, media_type=RSS, headers={"Content-Encoding": "gzip"})

    return app
