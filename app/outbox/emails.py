"""Emails, rendered when sent: an HTML and a plain-text part from the Jinja2 templates
beside this module, in the publisher's name and colour.

The outbox knows how to send an email, not what it says: each domain composes its own
(a `Composer` per template: app/subscribers/emails.py for a subscriber's, app/sharing/emails.py
for a sharing alert), as the message goes out, from the database as it is then. The
composition root (app/jobs.py) hands them to the sender."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db.engine import Database
from app.core.db.session import transaction
from app.outbox.mail import sender_address
from app.outbox.schemas import EmailTemplate
from app.outbox.service import Claimed


@dataclass(frozen=True)
class Letter:
    """What a domain says in one email: its address, subject and the template's context."""

    to: str
    subject: str
    context: dict[str, Any] = field(default_factory=dict)
    # A one-click unsubscribe link (RFC 8058), for the emails a subscriber opted in to.
    unsubscribe_url: str | None = None


# Composes one message's letter from its payload, inside a read transaction, at `now`; raises
# NotSendable when it should no longer go out, or NotDue when it should go out later.
Composer = Callable[[Session, dict[str, Any], datetime], Letter]


# Headers up to RFC 5322's line limit: at the default 78 a long header word (the one-click
# List-Unsubscribe <URL>) is RFC 2047-encoded, which mail clients do not read as a URL.
WIRE = policy.SMTP.clone(max_line_length=998)


def message_id(idempotency_key: str, base_url: str) -> str:
    """The same Message-ID on every try, so a receiving server or client can drop repeats."""
    return f"<{idempotency_key}@{urlsplit(base_url).hostname or 'podpass'}>"


class Emails:
    def __init__(
        self, db: Database, settings: Settings, composers: Mapping[EmailTemplate, Composer]
    ) -> None:
        self.db = db
        self.settings = settings
        self.composers = composers
        self.templates = Environment(
            loader=FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def compose(self, message: Claimed, now: datetime) -> EmailMessage:
        template = EmailTemplate(message.payload["template"])
        with transaction(self.db.reader) as session:
            letter = self.composers[template](session, message.payload, now)
        context = {
            "publisher": self.settings.publisher_name,
            "colour": self.settings.publisher_colour,
        } | letter.context
        email = EmailMessage(policy=WIRE)
        email["Subject"] = letter.subject
        email["From"] = sender_address(self.settings)
        email["To"] = letter.to
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = message_id(message.idempotency_key, self.settings.public_base_url)
        if letter.unsubscribe_url is not None:
            email["List-Unsubscribe"] = f"<{letter.unsubscribe_url}>"
            email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        email.set_content(self.templates.get_template(f"{template}.txt").render(context))
        email.add_alternative(
            self.templates.get_template(f"{template}.html").render(context), subtype="html"
        )
        return email
