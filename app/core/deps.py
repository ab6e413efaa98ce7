"""Annotated dependencies on what the lifespan built once. Who a request acts as is the
accounts package's (app/accounts/deps.py); the storage's is app/storage's."""

from typing import Annotated, Any

from fastapi import Path, Query, Request, params

from app.core.clock import Clock
from app.core.config import Settings
from app.core.db.engine import Database
from app.core.db.schema import MAX_ROW_ID
from app.core.tokens import FeedTokens, FormTokens, PageLinks, UnsubscribeLinks
from app.core.urls import Urls


def built(name: str) -> params.Depends:
    """A dependency on what the lifespan built (`app.state.<name>`). `async def` reads it on
    the event loop instead of costing a thread hop on every request (FastAPI runs sync
    dependencies in threads)."""

    async def read(request: Request) -> Any:
        return getattr(request.app.state, name)

    return params.Depends(read)


SettingsDep = Annotated[Settings, built("settings")]
TokensDep = Annotated[FeedTokens, built("tokens")]
PageLinksDep = Annotated[PageLinks, built("page_links")]
FormTokensDep = Annotated[FormTokens, built("form_tokens")]
UnsubscribeLinksDep = Annotated[UnsubscribeLinks, built("unsubscribe_links")]
UrlsDep = Annotated[Urls, built("urls")]
ClockDep = Annotated[Clock, built("clock")]
# For the few services that run transactions of their own (a console login).
DatabaseDep = Annotated[Database, built("db")]

# Ids in paths: a number beyond the id column is refused as a 422 before it reaches the
# database as an overflow (a 500).
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
# A list's page: how many rows (500 at most), and from which.
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]
