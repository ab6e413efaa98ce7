"""The application factory: `uvicorn --factory app.main:create_app`."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.billing.router import plans as plans_router
from app.billing.router import webhooks as webhooks_router
from app.config import Settings, StorageBackend, get_settings
from app.db import Database, build_engine
from app.episodes.router import router as episodes_router
from app.errors import LimitBodySize, install_error_handlers
from app.feeds.router import router as feeds_router
from app.feeds.service import FeedServer
from app.logs import install_token_redaction
from app.portal.router import install_problem_pages
from app.portal.router import router as portal_router
from app.shows.router import router as shows_router
from app.storage import Storage
from app.storage.local import LocalStorage
from app.storage.s3 import S3Storage
from app.subscribers.router import router as subscribers_router
from app.tokens import FeedTokens, PageLinks
from app.urls import Urls

MULTIPART_OVERHEAD = 1024 * 1024


def build_storage(settings: Settings) -> Storage:
    if settings.storage is StorageBackend.S3:
        return S3Storage.from_settings(settings)
    return LocalStorage(settings.audio_dir)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    install_token_redaction()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = build_engine(settings.database_url)
        app.state.settings = settings
        app.state.db = Database(engine)
        app.state.storage = build_storage(settings)
        app.state.tokens = FeedTokens(settings.secret_key)
        app.state.urls = Urls(settings.public_base_url)
        app.state.page_links = PageLinks(
            settings.secret_key, max_age_seconds=settings.page_link_days * 86400
        )
        app.state.feed_server = FeedServer(
            app.state.db,
            app.state.tokens,
            app.state.storage,
            base_url=settings.public_base_url,
            renew_url=settings.renew_url,
        )
        yield
        engine.dispose()

    app = FastAPI(
        title="Podpass",
        summary="Private podcast feeds: a secret URL per subscriber per show.",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_problem_pages(app)
    app.add_middleware(LimitBodySize, max_body_size=settings.max_upload_bytes + MULTIPART_OVERHEAD)
    # The public feed routes first: they take nearly all the traffic.
    routers = (
        feeds_router,
        shows_router,
        episodes_router,
        subscribers_router,
        plans_router,
        webhooks_router,
        portal_router,
    )
    for router in routers:
        app.include_router(router)

    @app.get("/healthz", tags=["ops"], summary="Liveness check")
    def healthz() -> dict[str, str | int]:
        return {"status": "ok", "worker": os.getpid()}

    return app
