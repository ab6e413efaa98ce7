"""Rendering console pages: the shared templates, flash messages carried across a redirect,
and the HTML error page (console errors are pages, never JSON)."""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.accounts.service import Permission
from app.console import kept
from app.core.db.engine import Database
from app.core.db.session import transaction
from app.core.errors import AppError
from app.core.fields import said
from app.outbox import service as outbox
from app.text import when

STATIC = Path(__file__).parent / "static"
FLASH_COOKIE = "podpass_flash"
HEADERS = {
    "Cache-Control": "private, no-store",
    # One-click actions (rotate, revoke) must not be clickable through another site's frame.
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Robots-Tag": "noindex",
}
TITLES = {
    400: "That request didn't work",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Not found",
    409: "That conflicts with something",
    413: "Too large",
    422: "Please check what you entered",
    429: "Too many attempts",
}


def _layout(request: Request) -> dict[str, Any]:
    """What base.html needs on every page: who is signed in (`staff`, None on the login and
    error pages of a visitor), their CSRF token, the flash message of a redirect, the
    publisher's time zone (`tz`, for the `when` filter), and the emails waiting for an SMTP
    server."""
    signed_in = getattr(request.state, "console", None)
    flash = request.cookies.get(FLASH_COOKIE)
    state = request.app.state
    # Who can see the outbox (support, owners) hears of emails waiting for an SMTP server and
    # of those given up on this past week; the other roles could do nothing about either.
    mends = signed_in is not None and signed_in.principal.can(Permission.SUBSCRIBERS)
    unsent = mends and not state.settings.smtp_host
    since = state.clock() - GIVEN_UP_WINDOW
    return {
        "tz": state.settings.timezone,
        "staff": signed_in.principal if signed_in else None,
        "csrf": signed_in.csrf if signed_in else "",
        "flash": unquote(flash) if flash else None,
        # Emails pile up unseen while no SMTP server is set, or die unseen when the one set
        # refuses them: every page says so (a count query each, only when it may matter).
        "emails_waiting": _count(state.db, outbox.waiting_emails) if unsent else 0,
        "emails_given_up": _count(state.db, lambda s: outbox.emails_given_up(s, since))
        if mends
        else 0,
    }


GIVEN_UP_WINDOW = timedelta(days=7)


def _count(db: Database, count: Callable[[Session], int]) -> int:
    try:
        with transaction(db.reader) as session:
            return count(session)
    except SQLAlchemyError:  # the database is down: the page (an error page) says that
        return 0


templates = Jinja2Templates(
    directory=Path(__file__).parent / "templates", context_processors=[_layout]
)
templates.env.globals["Permission"] = Permission


templates.env.filters["when"] = when


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A console page; shows the pending flash message once, and puts back the fields of a
    form on it that was posted after its session ended (kept.py), once."""
    restored = None
    if kept.COOKIE in request.cookies and status_code == 200:
        restored = kept.kept_for(request, request.app.state.clock())
    response = templates.TemplateResponse(
        request,
        name,
        (context or {}) | {"restored": restored},
        status_code=status_code,
        headers=HEADERS | (headers or {}),
    )
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/console")
    if restored is not None:
        kept.forget(response)
    return response


def redirect(url: str, *, flash: str | None = None) -> RedirectResponse:
    """After a form post (303, so a reload does not post again), with a message for the
    next page."""
    response = RedirectResponse(url, status_code=303, headers=HEADERS)
    if flash:
        response.set_cookie(
            FLASH_COOKIE, quote(flash), max_age=60, path="/console", httponly=True, samesite="lax"
        )
    return response


# A secret made by a form's POST (an API key, a webhook endpoint's signing secret) travels to
# the page that shows it in a cookie that page deletes as it reads it (like the flash
# message): so the POST ends in a redirect, and a reload neither makes a second secret nor
# shows the first one again. The cookie's path is that page's alone.
def redirect_showing_once(
    url: str, *, cookie: str, secret: str, secure: bool, flash: str | None = None
) -> RedirectResponse:
    response = redirect(url, flash=flash)
    response.set_cookie(  # Secure over HTTPS, as the session cookie is
        cookie, secret, max_age=60, path=url, httponly=True, samesite="strict", secure=secure
    )
    return response


def render_showing_once(
    request: Request, name: str, context: dict[str, Any], *, cookie: str, key: str
) -> Response:
    """The page, with the secret of `redirect_showing_once` as `key`, this once."""
    secret = request.cookies.get(cookie)
    response = render(request, name, context | {key: secret})
    if secret is not None:
        response.delete_cookie(cookie, path=request.url.path)
    return response


def _refused_address(exc: RequestValidationError) -> list[str]:
    """A request's refused values in a person's words: an address's (its path or query, which
    the console's own links never get wrong), or a form's fields. A value that fails both
    halves of a union: the first error is the one that explains."""
    found: dict[tuple[str, str], str] = {}
    for error in exc.errors():
        where = str(error["loc"][0])
        name = str(error["loc"][1]) if len(error["loc"]) > 1 else where
        if (where, name) in found:
            continue
        if where == "path":
            found[where, name] = f"There is no {name.removesuffix('_id')} {error['input']}."
        elif where == "query":
            found[where, name] = f"This address is not one the console makes: {name} {said(error)}."
        else:
            found[where, name] = f"{name.replace('_', ' ')}: {said(error)}"
    return list(found.values())


def error_page(
    request: Request, status_code: int, detail: object, exc: Exception | None = None
) -> Response:
    """app/core/errors.py's answer for console paths: the error's message as a page, without
    the words meant for the API's callers (pydantic's, a hint naming an API route)."""
    if isinstance(exc, RequestValidationError):
        lines = _refused_address(exc)
    elif isinstance(exc, AppError):
        lines = [exc.message]
    elif isinstance(detail, list):  # a validation error: one line per field
        lines = [f"{problem['field']}: {problem['message']}" for problem in detail]
    elif status_code in (404, 405) and detail in ("Not Found", "Method Not Allowed"):
        lines = ["There is no console page at this address."]  # Starlette's routing words
    else:
        lines = [str(detail)]
    title = TITLES.get(status_code, "Something went wrong")
    return render(
        request,
        "error.html",
        {"title": title, "lines": lines, "status": status_code},
        status_code=status_code,
    )
