"""A form's fields kept across a login: when a console form is posted after its session
ended, what was typed goes, signed, into a short-lived cookie; the login sends the browser
back to the form's page, and the page puts the fields back into the form they came from.

Never kept: passwords, the CSRF token, files (console forms post none), and a form too long
for a cookie (an article's whole text); the login page then says that nothing was saved."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from app.core.tokens import SignedValues

COOKIE = "podpass_unsaved"
LIFETIME = timedelta(minutes=15)
# Browsers keep a cookie of up to 4,096 bytes, its name and attributes included.
MAX_COOKIE_BYTES = 3800
# The names of the fields that hold a secret or the form's token, on every console form.
SECRET_FIELDS = frozenset({"csrf", "password", "current", "new", "again"})


@dataclass(frozen=True)
class KeptForm:
    """The fields of the form posted to `action` (repeated names kept: a plan's shows)."""

    action: str
    fields: list[tuple[str, str]]

    @classmethod
    def of(cls, action: str, form: FormData) -> "KeptForm":
        kept = [
            (name, value)
            for name, value in form.multi_items()
            if isinstance(value, str) and name not in SECRET_FIELDS
        ]
        return cls(action, kept)


def _signed(request: Request) -> SignedValues:
    return SignedValues(request.app.state.settings.secret_key, "podpass.console-unsaved-form")


def keep(request: Request, response: Response, form: KeptForm, page: str, now: datetime) -> bool:
    """Keep `form` for `page` (a console path) on `response`; False when it is too long."""
    value = _signed(request).dumps(
        {"page": page, "action": form.action, "fields": form.fields, "at": int(now.timestamp())}
    )
    if len(value) > MAX_COOKIE_BYTES:
        return False
    response.set_cookie(
        COOKIE,
        value,
        max_age=int(LIFETIME.total_seconds()),
        path="/console",
        httponly=True,
        samesite="lax",
        secure=request.app.state.sessions.secure,  # over HTTPS, as the session cookie is
    )
    return True


def kept_for(request: Request, now: datetime) -> KeptForm | None:
    """The form kept for this page, if there is one still fresh."""
    value: Any = _signed(request).loads(request.cookies.get(COOKIE, ""))
    if not isinstance(value, dict) or not {"page", "action", "fields", "at"} <= value.keys():
        return None
    query = request.url.query
    page = request.url.path + (f"?{query}" if query else "")
    if value["page"] != page or now.timestamp() - value["at"] > LIFETIME.total_seconds():
        return None
    return KeptForm(str(value["action"]), [(str(n), str(v)) for n, v in value["fields"]])


def forget(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/console")
