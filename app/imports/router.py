"""Old feed URLs from a publisher's previous host, answered once its domain points here.

Not a route: the app's answer for a path that no route takes (Starlette's `Router.default`),
so it costs the feed and audio paths nothing, shadows no route added later, and leaves the
answers to other methods as they were. Only a GET or HEAD that would otherwise be a 404
looks up the old URLs (one indexed query).
"""

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.db.session import transaction
from app.imports import old_urls


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
            return old_urls.moved_feed(
                session, state.tokens, state.urls, host=request.url.hostname or "", path=old
            )


def install_old_feed_urls(app: FastAPI) -> None:
    app.router.default = OldFeedUrls(app.router.default)
