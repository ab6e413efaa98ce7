"""Annotated dependencies: resources built once in the lifespan, and the admin check."""

import hmac
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from app.config import Settings
from app.errors import Unauthorized
from app.storage import Storage
from app.tokens import FeedTokens, PageLinks
from app.urls import Urls

# These only read what the lifespan built: `async def` keeps them on the event loop instead
# of costing a thread hop each on every request (FastAPI runs sync dependencies in threads).


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


async def _tokens(request: Request) -> FeedTokens:
    tokens: FeedTokens = request.app.state.tokens
    return tokens


SettingsDep = Annotated[Settings, Depends(_settings)]
StorageDep = Annotated[Storage, Depends(_storage)]
TokensDep = Annotated[FeedTokens, Depends(_tokens)]


async def _page_links(request: Request) -> PageLinks:
    links: PageLinks = request.app.state.page_links
    return links


PageLinksDep = Annotated[PageLinks, Depends(_page_links)]


async def _urls(request: Request) -> Urls:
    urls: Urls = request.app.state.urls
    return urls


UrlsDep = Annotated[Urls, Depends(_urls)]

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


# Ids in paths: anything beyond a 64-bit integer column can name no row (a 404, not a 500).
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
