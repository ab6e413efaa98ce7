"""The application factory: `uvicorn --factory app.main:create_app`."""

import gc
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.accounts.deps import PRINCIPAL, identify
from app.accounts.router import router as accounts_router
from app.accounts.service import Permission, Principal, roles_with
from app.accounts.sessions import Sessions
from app.analytics.recorder import Recorder
from app.analytics.router import router as analytics_router
from app.billing.router import events as billing_events_router
from app.billing.router import plans as plans_router
from app.billing.router import webhooks as webhooks_router
from app.console.analytics import router as console_analytics_router
from app.console.audit import router as console_audit_router
from app.console.billing import router as console_billing_router
from app.console.deps import install_login_redirect
from app.console.episodes import router as console_episodes_router
from app.console.pages import STATIC, error_page
from app.console.password_reset import router as console_password_reset_router
from app.console.plans import router as console_plans_router
from app.console.router import router as console_router
from app.console.router import site_root
from app.console.shows import router as console_shows_router
from app.console.subscribers import router as console_subscribers_router
from app.console.webhooks import router as console_webhooks_router
from app.core.clock import Clock, utcnow
from app.core.config import Settings, get_settings
from app.core.db.engine import Database, build_engine
from app.core.errors import (
    DatabaseUnavailable,
    ErrorPage,
    Forbidden,
    PayloadTooLarge,
    Unauthorized,
    as_page,
    error_response,
    install_error_handlers,
)
from app.core.logs import install_token_redaction
from app.core.routing import get_and_head
from app.core.tokens import FeedTokens, FormTokens, PageLinks, UnsubscribeLinks
from app.core.urls import Urls
from app.episodes.router import router as episodes_router
from app.feeds.access import Gate
from app.feeds.deps import Stages
from app.feeds.documents import Documents, Fallbacks, notice
from app.feeds.router import router as feeds_router
from app.imports.old_urls import install_old_feed_urls
from app.jobs import Runner, podpass_runner
from app.media.files import Handoff
from app.media.zerocopy import Sent, ZeroCopy
from app.openapi import install_openapi
from app.outbox.router import endpoints as webhook_endpoints_router
from app.outbox.router import router as outbox_router
from app.portal.router import FORM_MAX_AGE_SECONDS, install_problem_pages
from app.portal.router import router as portal_router
from app.sharing.router import router as sharing_router
from app.shows.router import router as shows_router
from app.storage.factory import build_storage
from app.subscribers.router import router as subscribers_router

MULTIPART_OVERHEAD = 1024 * 1024
WEBHOOK_MAX_BYTES = 1024 * 1024
# Everything else anyone may post (the subscriber page's forms) is a few hundred bytes.
PUBLIC_MAX_BYTES = 64 * 1024
# Console forms carry an article's whole text; their files go to the admin API instead.
CONSOLE_MAX_BYTES = 1024 * 1024
# The admin API's JSON bodies, for roles that upload no files (or no one yet identified).
ADMIN_MAX_BYTES = 1024 * 1024
ADMIN_PREFIX = "/admin/"
# Errors under these paths are pages (the console is opened in a browser), not JSON.
ERROR_PAGES: Mapping[str, ErrorPage] = {"/console/": error_page}


@dataclass(frozen=True)
class BodyLimit:
    max_bytes: int
    detail: str


class LimitBodySize:
    """Refuse bodies over the limit for their path: a declared Content-Length before reading
    any of it, a chunked body as soon as it passes the limit (so memory and disk never fill).
    `uploads` is the limit instead for a principal that may upload files: AdminKeyFirst,
    which runs first, identified it from the headers (any other staff member, whose role
    cannot use a large body, must not make the server spool one)."""

    def __init__(
        self,
        app: ASGIApp,
        default: BodyLimit,
        by_path_prefix: Mapping[str, BodyLimit],
        uploads: BodyLimit,
        pages: Mapping[str, ErrorPage],
    ) -> None:
        self.app = app
        self.default = default
        self.by_path_prefix = by_path_prefix
        self.uploads = uploads
        self.pages = pages

    def _limit_for(self, scope: Scope) -> BodyLimit:
        principal: Principal | None = scope.get("state", {}).get(PRINCIPAL)
        if principal is not None and principal.can(Permission.SHOWS):
            return self.uploads
        path: str = scope["path"]
        return next(
            (limit for prefix, limit in self.by_path_prefix.items() if path.startswith(prefix)),
            self.default,
        )

    def _too_large(self, scope: Scope, limit: BodyLimit) -> Response:
        answer = error_response(PayloadTooLarge(limit.detail), {"Connection": "close"})
        return as_page(Request(scope), answer, self.pages)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit.max_bytes:
            await self._too_large(scope, limit)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit.max_bytes:
                raise HTTPException(413, limit.detail)
            return message

        await self.app(scope, counting_receive, send)


class AdminKeyFirst:
    """Identify who an /admin request acts as (a key, or a console session and its CSRF
    token) from its headers, before any of its body is read: FastAPI reads (and spools) the
    body before it runs dependencies, so an unauthenticated 300 MB upload would cost a 300 MB
    spool. The routes' `require` dependencies then check the role."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and f"{scope['path']}/".startswith(ADMIN_PREFIX):
            try:
                try:
                    principal = await identify(HTTPConnection(scope))
                except OperationalError:  # outside the app's handlers, which would say this
                    raise DatabaseUnavailable() from None
            except (Unauthorized, Forbidden, DatabaseUnavailable) as refused:
                await error_response(refused, {"Connection": "close"})(scope, receive, send)
                return
            scope.setdefault("state", {})[PRINCIPAL] = principal
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, clock: Clock = utcnow) -> FastAPI:
    settings = settings or get_settings()
    install_token_redaction()
    fallbacks = Fallbacks()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = build_engine(settings.database_url)
        app.state.settings = settings
        app.state.db = Database(engine)
        app.state.storage = build_storage(settings)
        app.state.tokens = FeedTokens(settings.secret_key)
        app.state.urls = Urls(settings.public_base_url)
        app.state.clock = clock
        app.state.sessions = Sessions(
            settings.secret_key,
            lifetime=timedelta(hours=settings.session_hours),
            secure=settings.public_base_url.startswith("https://"),
        )
        app.state.page_links = PageLinks.from_settings(settings)
        app.state.form_tokens = FormTokens(
            settings.secret_key,
            max_age_seconds=FORM_MAX_AGE_SECONDS,
            clock=lambda: clock().timestamp(),
        )
        app.state.unsubscribe_links = UnsubscribeLinks(settings.secret_key)
        # Recording is off the request path: a thread writes the hits routes queue.
        recorder = None
        if settings.analytics:
            recorder = Recorder(
                app.state.db,
                clock,
                queue_size=settings.analytics_queue_size,
                flush_seconds=settings.analytics_flush_seconds,
            )
            recorder.start()
        app.state.recorder = recorder
        # The rollup, sharing detection, purge and outbox: no cron needed
        # (PODPASS_BACKGROUND_JOBS; PODPASS_OUTBOX_IN_APP for the outbox alone).
        jobs = podpass_runner(
            app.state.db,
            settings,
            clock,
            links=app.state.page_links,
            outbox=settings.outbox_in_app,
        )
        if settings.background_jobs:
            jobs.start()
        app.state.jobs = jobs
        app.state.handoff = Handoff.from_settings(settings)
        app.state.stages = Stages(
            gate=Gate(app.state.db, app.state.tokens, clock),
            documents=Documents(
                app.state.db,
                app.state.urls,
                clock,
                renew_url=settings.renew_url,
                notice=notice(app.state.urls),
                fallbacks=fallbacks,
            ),
            storage=app.state.storage,
            recorder=recorder,
            handoff=app.state.handoff,
        )
        # What is built by now (modules, the app, its routes: 150,000 objects) lives as long
        # as the worker: kept out of the garbage collector's full passes, which otherwise
        # walk it every time, 140 ms in the middle of a request (bench.republish).
        gc.freeze()
        yield
        gc.unfreeze()  # an app that is done (a test's) can be collected
        # Both join threads: off the event loop, which may still be finishing requests.
        await anyio.to_thread.run_sync(jobs.stop)  # after the job (or message) in hand
        if recorder is not None:
            await anyio.to_thread.run_sync(recorder.stop)  # writes what is still queued
        engine.dispose()

    app = FastAPI(
        title="Podpass",
        summary="Private podcast feeds: a secret URL per subscriber per show.",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app, pages=ERROR_PAGES)
    install_login_redirect(app)
    install_openapi(app)
    install_problem_pages(app)
    app.add_middleware(
        LimitBodySize,
        default=BodyLimit(PUBLIC_MAX_BYTES, "This request's body is larger than it can be."),
        by_path_prefix={
            ADMIN_PREFIX: BodyLimit(
                ADMIN_MAX_BYTES,
                "Bodies are limited to 1 MB here: only the "
                f"{' and '.join(roles_with(Permission.SHOWS))} roles may send larger ones.",
            ),
            "/webhooks/": BodyLimit(WEBHOOK_MAX_BYTES, "Webhook bodies are limited to 1 MB."),
            "/console/": BodyLimit(CONSOLE_MAX_BYTES, "Console forms are limited to 1 MB."),
        },
        uploads=BodyLimit(
            settings.max_upload_bytes + MULTIPART_OVERHEAD,
            "The request body is larger than this server accepts (PODPASS_MAX_UPLOAD_MB).",
        ),
        pages=ERROR_PAGES,
    )
    app.add_middleware(AdminKeyFirst)
    sent = Sent()
    app.add_middleware(ZeroCopy, sent=sent)  # outermost: it needs uvicorn's own `receive`
    # The public feed routes first: they take nearly all the traffic.
    routers = (
        feeds_router,
        shows_router,
        episodes_router,
        subscribers_router,
        sharing_router,
        analytics_router,
        plans_router,
        billing_events_router,
        accounts_router,
        console_router,
        console_shows_router,
        console_episodes_router,
        console_plans_router,
        console_subscribers_router,
        console_webhooks_router,
        console_billing_router,
        console_analytics_router,
        console_password_reset_router,
        console_audit_router,
        site_root,
        outbox_router,
        webhook_endpoints_router,
        webhooks_router,
        portal_router,
    )
    for router in routers:
        app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")

    @get_and_head(
        app, "/healthz", tags=["ops"], summary="Liveness check, and this worker's counters"
    )
    def healthz(request: Request) -> dict[str, str | int]:
        """`feed_fallbacks`: feed requests this worker answered by compressing a whole feed
        because its fast path could not be prepared (`feed_fallback_documents`: how many
        prepared feeds that was). Both should stay 0; the log names each show and version.

        `files_sendfile`: local files (or ranges of them) this worker sent with sendfile,
        from the page cache to the socket. It stays 0 where the server cannot (uvicorn with
        h11 or TLS; the log says so once): there files are read and sent in chunks.

        `analytics_queued`: requests recorded and waiting for the next write;
        `analytics_dropped`: requests not recorded because the queue was full
        (PODPASS_ANALYTICS_QUEUE_SIZE); `analytics_failed`: recorded requests lost because
        their batch could not be written (the log says why). All 0 with analytics off.

        `job_<name>_last_run` and `job_<name>_failures` for each background job (rollup,
        sharing, purge, past_due, outbox): when each last ran (in this worker, or found
        running in another; "" before its first run, or with PODPASS_BACKGROUND_JOBS off),
        and how many of its runs failed (the log says why)."""
        recorder: Recorder | None = request.app.state.recorder
        jobs: Runner = request.app.state.jobs
        counters: dict[str, str | int] = {
            "status": "ok",
            "worker": os.getpid(),
            "feed_fallbacks": fallbacks.requests,
            "feed_fallback_documents": fallbacks.documents,
            "files_sendfile": sent.files,
            "analytics_queued": recorder.queued if recorder else 0,
            "analytics_dropped": recorder.dropped if recorder else 0,
            "analytics_failed": recorder.failed if recorder else 0,
        }
        return counters | jobs.health()

    # Old feed URLs (imported): the answer for a path that no route takes.
    install_old_feed_urls(app)
    return app
