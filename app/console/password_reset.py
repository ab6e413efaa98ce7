"""A staff member's forgotten password: a form on the login page's side that emails a reset
link through the outbox, and the link's page, which sets a new password.

Nobody is signed in here: the email form carries a signed form token (as the portal's "email
me my links"), and the reset page's form is protected by the link itself, which another site
cannot know."""

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.accounts.service import PasswordResets
from app.audit import service as audit
from app.console.deps import CONSOLE, LOGIN
from app.console.emails import MINUTES
from app.console.forms import NewPasswordDep
from app.console.pages import redirect, render
from app.core.config import Settings
from app.core.db.session import SessionDep
from app.core.deps import ClockDep, FormTokensDep, SettingsDep
from app.core.errors import Forbidden, InvalidInput
from app.core.fields import normalise_email
from app.core.tokens import LinkExpired, LinkInvalid
from app.models import AuditVia, StaffUser
from app.outbox import service as outbox
from app.portal.deps import AskerDep

router = APIRouter(prefix=CONSOLE, include_in_schema=False)

ON_ITS_WAY = (
    "If that address has a staff account, an email with a link to set a new password is on "
    f"its way. The link works once, for {MINUTES} minutes."
)


def _forgot_page(
    request: Request,
    forms: FormTokensDep,
    *,
    email: str = "",
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "forgot_password.html",
        {"form_token": forms.make(), "email": email, "problems": [problem] if problem else []},
        status_code=status_code,
    )


@router.get("/forgot-password")
def forgot_password_form(request: Request, forms: FormTokensDep) -> Response:
    return _forgot_page(request, forms)


# Same shape as email_my_links in portal/router.py (an emailed link asked for by address,
# counted by outbox.link_requested): a staff account, its own page, email and link.
@router.post("/forgot-password")
def forgot_password(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    forms: FormTokensDep,
    asker: AskerDep,
    email: Annotated[str, Form(max_length=320)],
    form_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The answer is the same whether or not the address has an account; requests are
    counted per address and per network either way (the outbox's link-request limits)."""
    if not forms.valid(form_token):
        raise Forbidden("This form was open too long. Reload the page and send it again.")
    now = clock()
    over = outbox.link_requested(session, normalise_email(email), asker, now=now)
    if over is not None:
        whom = "that address" if over == "address" else "this network"
        return _forgot_page(
            request,
            forms,
            email=email,
            problem=f"Reset emails were asked for {whom} several times this hour: check the "
            "inbox and spam folder, or try again in an hour.",
            status_code=429,
        )
    user = accounts.resettable(session, email)
    if user is not None:
        outbox.password_reset_email(session, user.id, to=user.email, now=now)
    return redirect(LOGIN, flash=ON_ITS_WAY)


def _reset_page(
    request: Request, signed: str, user: StaffUser, problem: str | None = None
) -> Response:
    return render(
        request,
        "password_reset.html",
        {
            "action": f"{CONSOLE}/password-reset/{signed}",
            "email": user.email,
            "problems": [problem] if problem else [],
        },
        status_code=422 if problem else 200,
    )


def _user_of(session: Session, settings: Settings, signed: str, clock: ClockDep) -> StaffUser:
    try:
        return PasswordResets(settings.secret_key).user_of(session, signed, clock())
    except LinkExpired:
        raise _LinkGone(f"This link is more than {MINUTES} minutes old.") from None
    except LinkInvalid:
        raise _LinkGone("This link was used already, or it is not whole.") from None


class _LinkGone(Forbidden):
    def __init__(self, why: str) -> None:
        super().__init__(
            f"{why} Nothing was changed. Ask for a new one: Forgot your password? on the "
            "login page."
        )


@router.get("/password-reset/{signed}")
def reset_form(
    request: Request, signed: str, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Response:
    """A GET changes nothing (mail scanners open links): the form posts."""
    return _reset_page(request, signed, _user_of(session, settings, signed, clock))


# The shape of change_password in console/router.py (a new password typed twice): no
# session here, and the link stands for the current password.
@router.post("/password-reset/{signed}")
def reset_password(
    request: Request,
    signed: str,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    new: NewPasswordDep,
) -> Response:
    user = _user_of(session, settings, signed, clock)
    try:
        audit.act_as(session, audit.Actor(user.email, AuditVia.CONSOLE, user.id), clock)
        accounts.set_password(session, user, new.checked(), now=clock())
    except InvalidInput as refused:
        return _reset_page(request, signed, user, refused.detail)
    return redirect(
        LOGIN,
        flash="Your new password is set, and every console session of yours has ended. "
        "Log in with it.",
    )
