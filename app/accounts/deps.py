"""Who a request acts as (an API key, the bootstrap admin key or a console session), what
their role lets them do, and staff accounts in paths."""

import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, Request, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from app.accounts import service
from app.accounts import service as accounts
from app.accounts.service import Permission, Principal
from app.accounts.sessions import COOKIE, Sessions
from app.audit import service as audit
from app.core.db.engine import Database
from app.core.db.session import SessionDep, transaction
from app.core.deps import ClockDep, RowId, built
from app.core.errors import Forbidden, Unauthorized
from app.models import AuditVia, StaffUser


def path_user(session: SessionDep, user_id: RowId) -> StaffUser:
    return service.get_user(session, user_id)


UserDep = Annotated[StaffUser, Depends(path_user)]

SessionsDep = Annotated[Sessions, built("sessions")]

_bearer = HTTPBearer(
    auto_error=False,
    description="A staff user's API key (`pp_…`), or the bootstrap PODPASS_ADMIN_KEY. "
    "The console's pages may instead send their session cookie, with an X-CSRF-Token header "
    "on POST, PUT, PATCH and DELETE.",
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Where AdminKeyFirst leaves who an /admin request acts as (`request.state.principal`).
PRINCIPAL = "principal"
SESSION_ENDED = "Your console session has ended: log in again."
R = TypeVar("R")


def _look_up(db: Database, lookup: Callable[[Session], R]) -> R:
    with transaction(db.reader) as session:
        return lookup(session)


async def identify(connection: HTTPConnection) -> Principal:
    """Who a request acts as, from its headers alone (so that AdminKeyFirst can refuse an
    upload before reading it): an API key, the bootstrap admin key, or a console session.
    Raises Unauthorized, or Forbidden for a session's unsafe request without its CSRF token.
    The database lookups run in a thread: this also runs in the middleware, on the loop."""
    state = connection.app.state
    now: datetime = state.clock()
    scheme, key = get_authorization_scheme_param(connection.headers.get("authorization"))
    if scheme:
        if scheme.lower() != "bearer" or not key:
            raise Unauthorized("Send an API key as `Authorization: Bearer <key>`.")
        if hmac.compare_digest(key.encode(), state.settings.admin_key.encode()):
            return accounts.BOOTSTRAP
        by_key = await run_in_threadpool(
            _look_up, state.db, lambda session: accounts.principal_for_key(session, key, now=now)
        )
        if by_key is None:
            raise Unauthorized("The API key is wrong or revoked, or its account is disabled.")
        return by_key
    cookie = connection.cookies.get(COOKIE)
    if cookie is None:
        raise Unauthorized(
            "Send an API key as `Authorization: Bearer <key>`, or log in to the console."
        )
    staff_session = state.sessions.read(cookie, now)
    if staff_session is None:
        raise Unauthorized(SESSION_ENDED)
    user_id, issued_at = staff_session.user_id, staff_session.issued_at
    by_session = await run_in_threadpool(
        _look_up,
        state.db,
        lambda session: accounts.principal_for_session(session, user_id, issued_at),
    )
    if by_session is None:  # the account is gone or disabled, or the session was ended
        raise Unauthorized(SESSION_ENDED)
    if connection.scope["method"] not in SAFE_METHODS:
        # SameSite=Lax keeps the cookie off other sites' POSTs in today's browsers; the
        # token also covers older ones, and same-site pages the publisher does not control.
        sent = connection.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(sent.encode(), staff_session.csrf.encode()):
            raise Forbidden(
                "A change made with a console session needs the session's CSRF token in "
                "the X-CSRF-Token header."
            )
    return by_session


async def current_principal(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """`_bearer` documents the scheme in the OpenAPI spec. /admin requests were identified
    by AdminKeyFirst already, before their body was read. The request's session acts as
    them from here on (the audit log's actor)."""
    known: Principal | None = getattr(request.state, PRINCIPAL, None)
    principal = known if known is not None else await identify(request)
    # A console page's own calls (an upload's progress bar) send its cookie, not a key.
    via = AuditVia.API if "authorization" in request.headers else AuditVia.CONSOLE
    audit.act_as(session, actor(principal, via), clock)
    return principal


def actor(principal: Principal, via: AuditVia) -> audit.Actor:
    return audit.Actor(principal.email, via, principal.user_id)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(permission: Permission, *, reads: Permission | None = None) -> params.Depends:
    """A route (or router) dependency: the principal's role must give `permission`, or, for
    GET and HEAD, `reads` when given (so a router can let more roles read than write)."""

    async def check(request: Request, principal: PrincipalDep) -> Principal:
        needed = reads if reads is not None and request.method in SAFE_METHODS else permission
        if not principal.can(needed):
            roles = " or ".join(accounts.roles_with(needed))
            raise Forbidden(
                f"This needs the {roles} role; {principal.email} has the {principal.role} role."
            )
        return principal

    return params.Depends(check)


# Owner only: for routes not yet given a narrower permission.
AdminDep = require(Permission.ACCOUNTS)
