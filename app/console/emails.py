"""What the console's own emails say (to staff), composed as they go out: the outbox sends
them (app/outbox/emails.py), and app/jobs.py hands it this composer."""

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.accounts.service import RESET_LINK_LIFETIME, PasswordResets
from app.core.config import Settings
from app.core.urls import Urls
from app.models import StaffUser
from app.outbox.emails import Letter
from app.outbox.service import NotSendable

MINUTES = int(RESET_LINK_LIFETIME.total_seconds() // 60)


class StaffEmails:
    """What a staff member's emails say, composed as they go out (app/outbox/emails.py)."""

    def __init__(self, settings: Settings, urls: Urls) -> None:
        self.resets = PasswordResets(settings.secret_key)
        self.urls = urls

    def password_reset(self, session: Session, payload: dict[str, Any], now: datetime) -> Letter:
        """To the account's address as it is now, with a link that starts its life now."""
        user = session.get(StaffUser, payload["user_id"])
        if user is None or user.disabled_at is not None:
            raise NotSendable("not sent: the account was deleted or disabled meanwhile")
        link = self.urls.console_password_reset(self.resets.make(user, now))
        return Letter(
            user.email,
            "Set a new password for the console",
            {"email": user.email, "reset_url": link, "minutes": MINUTES},
        )
