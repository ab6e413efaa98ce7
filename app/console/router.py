"""The console's own pages: login, the dashboard, sharing alerts, staff accounts and API keys.
(Shows, episodes, plans and subscribers: shows.py, episodes.py, plans.py, subscribers.py.)

Every action calls the service the admin API calls; a route turns a form into that call and
its answer into a page or a redirect with a flash message."""

import hmac
import secrets
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from app.accounts import service as accounts
from app.accounts.deps import SessionsDep, UserDep
from app.accounts.schemas import ApiKeyCreate
from app.accounts.sessions import COOKIE
from app.console import forms, service
from app.console.deps import (
    CONSOLE,
    KEPT,
    OWNER,
    OWNER_FORM,
    SIGNED_IN_FORM,
    STATS,
    SUPPORT,
    SUPPORT_FORM,
    ConsoleUser,
    LoginRequired,
    StaffSessionDep,
    safe_next,
)
from app.console.forms import NewPasswordDep
from app.console.pages import redirect, redirect_showing_once, render, render_showing_once
from app.core.db.session import SessionDep
from app.core.deps import (
    ClockDep,
    DatabaseDep,
    RowId,
)
from app.core.errors import Conflict, Forbidden, InvalidInput, TooManyAttempts, Unauthorized
from app.core.routing import get_and_head
from app.models import AlertStatus, OutboxStatus, Role, StaffUser
from app.outbox import service as outbox
from app.sharing import service as sharing
from app.sharing.deps import AlertDep
from app.subscribers import service as subscribers

router = APIRouter(prefix=CONSOLE, include_in_schema=False)

# The login form's CSRF token, before there is a session: a random value in a cookie that
# the form repeats in a hidden field (another site can post a form, but cannot read or set
# this cookie to match it).
LOGIN_COOKIE = "podpass_login"


# Login and logout


def _login_page(
    request: Request,
    next_path: str,
    *,
    problem: str | None = None,
    email: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
    response = render(
        request,
        "login.html",
        {"login_csrf": token, "next": next_path, "problem": problem, "email": email},
        status_code=status_code,
        headers=headers,
    )
    response.set_cookie(
        LOGIN_COOKIE, token, max_age=3600, path=f"{CONSOLE}/login", httponly=True, samesite="lax"
    )
    return response


UNSAVED = (
    "Your session had ended, so what you sent was not saved. Log in, and you are back on "
    "that page to send it again."
)


KEPT_FOR_YOU = (
    "Your session had ended, so what you sent was not saved. Log in, and you are back on "
    "that page with what you typed in the form (but passwords): check it and send it again."
)


@router.get("/login")
def login_form(request: Request, next: str = "", unsaved: str = "") -> Response:
    problem = (KEPT_FOR_YOU if unsaved == KEPT else UNSAVED) if unsaved else None
    return _login_page(request, safe_next(next), problem=problem)


# Same shape as email_my_links in portal/router.py (an email form's fields): another
# form, with its own checks (a password and a login cookie; a form token and the Origin).
@router.post("/login")
def log_in(
    request: Request,
    db: DatabaseDep,
    sessions: SessionsDep,
    clock: ClockDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    login_csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    next_path = safe_next(next)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(login_csrf.encode(), expected.encode()):
        raise Forbidden(
            "This login form has expired, or your browser refused its cookie. Reload the "
            "page and log in again (the console needs cookies)."
        )
    client = request.client
    try:
        principal = accounts.authenticate(
            db, email=email, password=password, ip=client.host if client else "", now=clock()
        )
    except (Unauthorized, TooManyAttempts) as refused:
        return _login_page(
            request,
            next_path,
            problem=refused.detail,
            email=email,
            status_code=refused.status_code,
            headers={"Retry-After": refused.headers["Retry-After"]}
            if "Retry-After" in refused.headers
            else None,
        )
    assert principal.user_id is not None  # a login is always a staff account
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        COOKIE, sessions.issue(principal.user_id, clock()), **sessions.cookie_options()
    )
    response.delete_cookie(LOGIN_COOKIE, path=f"{CONSOLE}/login")
    return response


@router.post("/logout", dependencies=SIGNED_IN_FORM)
def log_out(
    staff: StaffSessionDep, session: SessionDep, sessions: SessionsDep, clock: ClockDep
) -> Response:
    # Deleting the cookie is not enough: a copy of it (another browser, a stolen one)
    # would still work. This ends the user's other sessions too.
    accounts.end_sessions(session, staff.user_id, now=clock())
    response = redirect(
        f"{CONSOLE}/login", flash="You are logged out, here and on your other devices."
    )
    options = sessions.cookie_options()
    response.delete_cookie(
        COOKIE, path=options["path"], secure=options["secure"], httponly=True, samesite="lax"
    )
    return response


# Dashboard


@router.get("")
def console_root() -> Response:
    return RedirectResponse(f"{CONSOLE}/", status_code=308)


# The server's own root: the first address a publisher opens after `make run`. Temporary (302):
# a public home page may take its place.
site_root = APIRouter(include_in_schema=False)


@get_and_head(site_root, "/")
def server_root() -> Response:
    return RedirectResponse(f"{CONSOLE}/", status_code=302)


@router.get("/", dependencies=STATS)
def dashboard(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    return render(request, "dashboard.html", {"board": service.dashboard(session, clock().date())})


# Subscribers: console/subscribers.py


# Sharing alerts


@router.get("/alerts", dependencies=SUPPORT)
def alert_list(
    request: Request, session: SessionDep, status: AlertStatus = AlertStatus.OPEN
) -> Response:
    return render(
        request,
        "alerts.html",
        {
            "alerts": service.alerts(session, [status]),
            "status": status,
            "statuses": list(AlertStatus),
        },
    )


@router.post("/alerts/{alert_id}/acknowledge", dependencies=SUPPORT_FORM)
def acknowledge_alert(alert: AlertDep, session: SessionDep, clock: ClockDep) -> Response:
    sharing.acknowledge(session, alert, now=clock())
    return redirect(f"{CONSOLE}/alerts", flash="Acknowledged: the URL is kept.")


@router.post("/alerts/{alert_id}/rotate", dependencies=SUPPORT_FORM)
def rotate_alert(alert: AlertDep, session: SessionDep, clock: ClockDep) -> Response:
    sharing.rotate(session, alert, now=clock())
    holder = subscribers.get(session, alert.subscriber_id)
    return redirect(
        f"{CONSOLE}/alerts",
        flash=f"Rotated: the shared URL no longer works. {holder.email} is emailed their "
        "page link, which has the new one.",
    )


# The outbox: emails and webhook deliveries, waiting, sent or given up on


OUTBOX_PAGE = 100


@router.get("/outbox", dependencies=SUPPORT)
def outbox_page(
    request: Request, session: SessionDep, status: OutboxStatus = OutboxStatus.PENDING
) -> Response:
    messages = outbox.list_some(session, status=status, limit=OUTBOX_PAGE, offset=0)
    return render(
        request,
        "outbox.html",
        {
            "messages": messages,
            "status": status,
            "statuses": list(OutboxStatus),
            "limit": OUTBOX_PAGE,
        },
    )


@router.post("/outbox/{message_id}/retry", dependencies=SUPPORT_FORM)
def retry_message(message_id: RowId, session: SessionDep, clock: ClockDep) -> Response:
    message = outbox.retry(session, outbox.get(session, message_id), clock())
    return redirect(
        f"{CONSOLE}/outbox?status=dead",
        flash=f"Message {message.id} goes out again, with a fresh set of tries.",
    )


# Staff accounts (owners)


def _accounts_page(
    request: Request,
    session: SessionDep,
    now: datetime,
    typed: dict[str, str] | None = None,
    refused: InvalidInput | Conflict | None = None,
    managing: int | None = None,
) -> Response:
    """The staff list and the new-account form, with what was typed in it (but the
    password) when it was refused; `managing`: the account whose reset was refused, whose
    forms stay unfolded."""
    return render(
        request,
        "accounts.html",
        {
            "users": accounts.list_users(session),
            "roles": list(Role),
            "typed": typed or {"email": "", "role": Role.EDITOR},
            "locked": accounts.locked_out(session, now),
            "problems": [refused.detail] if refused else [],
            "managing": managing,
        },
        status_code=refused.status_code if refused else 200,
    )


@router.get("/accounts", dependencies=OWNER)
def account_list(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    return _accounts_page(request, session, clock())


@router.post("/accounts", dependencies=OWNER_FORM)
def create_account(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    email: Annotated[str, Form(max_length=320)],
    role: Annotated[Role, Form()],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    try:
        user = accounts.create_user(session, email=email, password=password, role=role, now=clock())
    except (InvalidInput, Conflict) as refused:  # refused before anything was written
        typed = {"email": email, "role": role}
        return _accounts_page(request, session, clock(), typed, refused)
    return redirect(
        f"{CONSOLE}/accounts",
        flash=f"{user.email} can now log in as {user.role}. Give them their password in person "
        "or by a separate channel.",
    )


@router.post("/accounts/{user_id}/password", dependencies=OWNER_FORM)
def reset_password(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    user: UserDep,
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    try:
        accounts.set_password(session, user, password, now=clock())
    except InvalidInput as refused:
        # The service names the field ("password: …"); on a page of many accounts, whose.
        whose = InvalidInput(
            f"New password for {user.email}: {refused.detail.removeprefix('password: ')}"
        )
        return _accounts_page(request, session, clock(), refused=whose, managing=user.id)
    return redirect(
        f"{CONSOLE}/accounts",
        flash=f"New password set for {user.email}: give it to them in person or by a separate "
        "channel. Their console sessions have ended, and they may log in at once.",
    )


@router.post("/accounts/{user_id}/unlock", dependencies=OWNER_FORM)
def unlock_account(session: SessionDep, user: UserDep) -> Response:
    accounts.unlock(session, user)
    return redirect(f"{CONSOLE}/accounts", flash=f"{user.email} may try to log in again now.")


@router.post("/accounts/{user_id}/role", dependencies=OWNER_FORM)
def change_role(session: SessionDep, user: UserDep, role: Annotated[Role, Form()]) -> Response:
    accounts.set_role(session, user, role)
    return redirect(f"{CONSOLE}/accounts", flash=f"{user.email} is now {user.role}.")


@router.post("/accounts/{user_id}/disable", dependencies=OWNER_FORM)
def disable_account(session: SessionDep, clock: ClockDep, user: UserDep) -> Response:
    accounts.disable_user(session, user, now=clock())
    return redirect(
        f"{CONSOLE}/accounts",
        flash=f"{user.email} is disabled: their sessions and API keys stopped working.",
    )


@router.post("/accounts/{user_id}/enable", dependencies=OWNER_FORM)
def enable_account(session: SessionDep, user: UserDep) -> Response:
    accounts.enable_user(session, user)
    return redirect(f"{CONSOLE}/accounts", flash=f"{user.email} can log in again.")


# Your own password


def _password_page(request: Request, refused: InvalidInput | None = None) -> Response:
    problems = [refused.detail] if refused else []
    status_code = refused.status_code if refused else 200
    return render(request, "password.html", {"problems": problems}, status_code=status_code)


@router.get("/password")
def password_form(request: Request, session: SessionDep, user: ConsoleUser) -> Response:
    _me(session, user)
    return _password_page(request)


# A form's fields as parameters, as log_in's above: two forms, each with its own checks.
@router.post("/password", dependencies=SIGNED_IN_FORM)
def change_password(
    request: Request,
    session: SessionDep,
    sessions: SessionsDep,
    clock: ClockDep,
    user: ConsoleUser,
    current: Annotated[str, Form(max_length=1024)],
    new: NewPasswordDep,
) -> Response:
    me = _me(session, user)
    now = clock()
    try:
        accounts.change_own_password(session, me, current=current, new=new.checked(), now=now)
    except InvalidInput as refused:
        return _password_page(request, refused)
    response = redirect(
        f"{CONSOLE}/", flash="Your password is changed. Your other console sessions have ended."
    )
    # Every session issued before now has ended: this one goes on with a new cookie.
    response.set_cookie(COOKIE, sessions.issue(me.id, now), **sessions.cookie_options())
    return response


# API keys (everyone's own)


def _me(session: SessionDep, user: ConsoleUser) -> StaffUser:
    if user.user_id is None:  # sessions belong to accounts; the bootstrap key has none
        raise LoginRequired(f"{CONSOLE}/keys")
    return accounts.get_user(session, user.user_id)


NEW_KEY_COOKIE = "podpass_new_key"


@router.get("/keys")
def key_list(request: Request, session: SessionDep, user: ConsoleUser) -> Response:
    me = _me(session, user)
    keys = accounts.list_api_keys(session, me)
    return render_showing_once(
        request, "keys.html", {"keys": keys}, cookie=NEW_KEY_COOKIE, key="new_key"
    )


@router.post("/keys", dependencies=SIGNED_IN_FORM)
def create_key(
    request: Request,
    session: SessionDep,
    sessions: SessionsDep,
    clock: ClockDep,
    user: ConsoleUser,
    name: Annotated[str, Form()] = "",
) -> Response:
    """The key is shown this once, on the page this redirects to, and never stored."""
    me = _me(session, user)
    try:
        wanted = ApiKeyCreate(name=name)  # the admin API's checks: a name of spaces is none
    except ValidationError as refused:
        context = {"keys": accounts.list_api_keys(session, me), "typed_name": name}
        context["problems"] = forms.problems(refused)
        return render(request, "keys.html", context, status_code=422)
    _, key = accounts.create_api_key(session, me, name=wanted.name, now=clock())
    return redirect_showing_once(
        f"{CONSOLE}/keys", cookie=NEW_KEY_COOKIE, secret=key, secure=sessions.secure
    )


@router.post("/keys/{key_id}/revoke", dependencies=SIGNED_IN_FORM)
def revoke_key(session: SessionDep, clock: ClockDep, user: ConsoleUser, key_id: RowId) -> Response:
    me = _me(session, user)
    key = accounts.revoke_api_key(session, accounts.get_api_key(session, me, key_id), now=clock())
    return redirect(f"{CONSOLE}/keys", flash=f"The key '{key.name}' is revoked.")
