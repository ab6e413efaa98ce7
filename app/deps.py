"""Annotated dependencies: resources built once in the lifespan, and the admin check."""

import hmac
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from app.config import Settings
from app.db import MAX_ROW_ID, Clock
from app.errors import Unauthorized
from app.storage import Storage
from app.tokens import FeedTokens, PageLinks
from app.urls import Urls


def built(name: str) -> Any:
    """A dependency on what the lifespan built (`app.state.<name>`). `async def` reads it on
    the event loop instead of costing a thread hop on every request (FastAPI runs sync
    dependencies in threads)."""

    async def read(request: Request) -> Any:
        return getattr(request.app.state, name)

    return Depends(read)


SettingsDep = Annotated[Settings, built("settings")]
StorageDep = Annotated[Storage, built("storage")]
TokensDep = Annotated[FeedTokens, built("tokens")]
PageLinksDep = Annotated[PageLinks, built("page_links")]
UrlsDep = Annotated[Urls, built("urls")]
ClockDep = Annotated[Clock, built("clock")]

_bearer = HTTPBearer(auto_error=False, description="The admin key (PODPASS_ADMIN_KEY).")


def check_admin_key(authorization: str | None, admin_key: str) -> None:
    """The one admin key check, from the Authorization header alone: `require_admin`, and
    the middleware that runs it before any of an /admin request's body is read."""
    scheme, key = get_authorization_scheme_param(authorization)
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("Send the admin key as `Authorization: Bearer <PODPASS_ADMIN_KEY>`.")
    if not hmac.compare_digest(key.encode(), admin_key.encode()):
        raise Unauthorized("The admin key is wrong.")


async def require_admin(
    request: Request,
    settings: SettingsDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """`_bearer` documents the scheme in the OpenAPI spec; the check reads the header."""
    check_admin_key(request.headers.get("authorization"), settings.admin_key)


AdminDep = Depends(require_admin)


# Ids in paths: a number beyond the id column is refused as a 422 before it reaches the
# database as an overflow (a 500).
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
