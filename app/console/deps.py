"""What console pages depend on: the signed-in staff member (`ConsoleUser`), a permission
(`needs`), and the CSRF check of a form post (`CsrfChecked`). Rendering pages, flash
messages and redirects: app/console/pages.py."""

import hmac
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, FastAPI, Form, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from app.accounts import service as accounts
from app.accounts.deps import SessionsDep, actor
from app.accounts.service import Permission, Principal
from app.accounts.sessions import COOKIE, StaffSession
from app.audit import service as audit
from app.console import kept
from app.console.kept import KeptForm
from app.core.db.session import SessionDep
from app.core.deps import ClockDep
from app.core.errors import Forbidden
from app.models import AuditVia

CONSOLE = "/console"
LOGIN = f"{CONSOLE}/login"
# The login page's `unsaved` when the form's fields were kept (kept.py), not only refused.
KEPT = "kept"


# Same shape as LinkProblem in portal/service.py (an exception that keeps what its page
# needs): the console's login redirect, and the portal's problem page.
class LoginRequired(Exception):
    """No valid session: the browser goes to the login page, and back to `next_path` after.
    `unsaved`: what the request sent (a form) was not saved, and the login page says so;
    `kept`: its fields, to put back into the form once logged in (app/console/kept.py)."""

    def __init__(
        self, next_path: str, *, unsaved: bool = False, kept: KeptForm | None = None
    ) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.unsaved = unsaved
        self.kept = kept


# Same shape as NotDue and Claimed in outbox/service.py (an exception that keeps one value,
# then a record): unrelated things.
@dataclass(frozen=True)
class SignedIn:
    """Who is signed in, kept on `request.state.console` for the layout (nav, CSRF token)."""

    principal: Principal
    csrf: str


def safe_next(path: str | None) -> str:
    """Where to go after logging in: a console path only, never another site (`//evil`)."""
    if path and path.startswith(f"{CONSOLE}/") and not path.startswith("//") and "\\" not in path:
        return path
    return f"{CONSOLE}/"


def _login_required(request: Request, form: FormData | None = None) -> LoginRequired:
    """Back here after logging in. After logging in the browser can only GET: a form post
    goes back to the page the form was on (its Referer, when that is a console page), with
    the form's fields when they are given."""
    if request.method in ("GET", "HEAD"):
        query = request.url.query
        return LoginRequired(request.url.path + (f"?{query}" if query else ""))
    referer = urlsplit(request.headers.get("referer", ""))
    same_site = not referer.netloc or referer.netloc == request.url.netloc
    page = referer.path + (f"?{referer.query}" if referer.query else "")
    kept = KeptForm.of(request.url.path, form) if form is not None and same_site else None
    return LoginRequired(
        safe_next(page if same_site else None),
        unsaved=True,
        kept=kept if kept is not None and kept.fields else None,  # a button's form: nothing
    )


async def staff_session(request: Request, sessions: SessionsDep, clock: ClockDep) -> StaffSession:
    found = sessions.read(request.cookies.get(COOKIE), clock())
    if found is None:
        # A console form's fields were read already (FastAPI reads the body first).
        posted = request.method == "POST" and request.url.path.startswith(f"{CONSOLE}/")
        raise _login_required(request, await request.form() if posted else None)
    return found


StaffSessionDep = Annotated[StaffSession, Depends(staff_session)]


def console_user(
    request: Request, staff: StaffSessionDep, session: SessionDep, clock: ClockDep
) -> Principal:
    # Read on every request, so disabling an account or changing its role acts at once.
    principal = accounts.principal_for_session(session, staff.user_id, staff.issued_at)
    if principal is None:
        raise _login_required(request)
    request.state.console = SignedIn(principal, staff.csrf)
    audit.act_as(session, actor(principal, AuditVia.CONSOLE), clock)
    return principal


ConsoleUser = Annotated[Principal, Depends(console_user)]


def needs(permission: Permission) -> Any:
    """A route dependency: the signed-in user's role must grant `permission` (a 403 page)."""

    def check(user: ConsoleUser) -> None:
        if not user.can(permission):
            raise Forbidden(
                f"Your role ({user.role}) cannot open this page: it needs the "
                f"{permission} permission. Ask an owner if you need it."
            )

    return Depends(check)


def check_csrf(staff: StaffSessionDep, csrf: Annotated[str, Form()] = "") -> None:
    """Every console form carries the session's CSRF secret in a hidden `csrf` field (the
    layout puts it in every template as `csrf`); a cross-site form cannot know it."""
    if not hmac.compare_digest(csrf.encode(), staff.csrf.encode()):
        raise Forbidden(
            "This form did not carry its security token (it may be from an old page, or "
            "from another site). Go back, reload the page and try again."
        )


CsrfChecked = Depends(check_csrf)

# Route dependencies by what a page needs (the `_FORM` ones also check the form's token).
STATS = [needs(Permission.STATS)]
READER = [needs(Permission.READ_SHOWS)]  # shows and episodes, their forms hidden without SHOWS
EDITOR_FORM = [needs(Permission.SHOWS), CsrfChecked]
SUPPORT = [needs(Permission.SUBSCRIBERS)]
SUPPORT_FORM = [needs(Permission.SUBSCRIBERS), CsrfChecked]
OWNER = [needs(Permission.ACCOUNTS)]
OWNER_FORM = [needs(Permission.ACCOUNTS), CsrfChecked]
SIGNED_IN_FORM = [CsrfChecked]


def _to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    response = RedirectResponse(LOGIN, status_code=303)
    unsaved = "1" if exc.unsaved else None
    now = request.app.state.clock()
    if exc.kept is not None and kept.keep(request, response, exc.kept, exc.next_path, now):
        unsaved = KEPT
    query = {"next": exc.next_path} | ({"unsaved": unsaved} if unsaved else {})
    response.headers["Location"] = f"{LOGIN}?{urlencode(query)}"
    return response


def install_login_redirect(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _to_login)
