"""Console sessions: a signed cookie holding who logged in, when, and the session's CSRF
secret. Nothing is stored server-side: every request re-reads the user (a disabled user's
sessions stop working at once), and the cookie expires PODPASS_SESSION_HOURS after login."""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.core.tokens import SignedValues

COOKIE = "podpass_session"


@dataclass(frozen=True)
class StaffSession:
    user_id: int
    csrf: str
    issued_at: datetime


class Sessions:
    def __init__(self, secret_key: str, *, lifetime: timedelta, secure: bool) -> None:
        self.lifetime = lifetime
        self.secure = secure
        # Expiry is checked against the injected clock below, so the signature is untimed.
        self._signed = SignedValues(secret_key, "podpass.staff-session")

    def issue(self, user_id: int, now: datetime) -> str:
        """The cookie's value, with a fresh 128-bit CSRF secret."""
        payload = {"user": user_id, "csrf": secrets.token_urlsafe(16), "at": now.timestamp()}
        return self._signed.dumps(payload)

    def read(self, value: str | None, now: datetime) -> StaffSession | None:
        """The session, or None when the cookie is missing, not ours, or expired."""
        if not value:
            return None
        match self._signed.loads(value):
            case {"user": int(user_id), "csrf": str(csrf), "at": float(at)}:
                issued_at = datetime.fromtimestamp(at, UTC)
            case _:
                return None
        if now >= issued_at + self.lifetime:
            return None
        return StaffSession(user_id=user_id, csrf=csrf, issued_at=issued_at)

    def cookie_options(self) -> dict[str, Any]:
        """Keyword arguments for `Response.set_cookie(COOKIE, value, ...)`."""
        return {
            "max_age": int(self.lifetime.total_seconds()),
            "path": "/",
            "httponly": True,
            "samesite": "lax",
            "secure": self.secure,
        }
