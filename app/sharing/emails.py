"""What a sharing alert says: it goes to the publisher (PODPASS_ALERTS_EMAIL), as it goes out
(app/outbox/emails.py sends it)."""

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.urls import Urls
from app.models import SharingAlert, Show, Subscriber
from app.outbox.emails import Letter
from app.outbox.service import NotSendable
from app.sharing.schemas import Evidence
from app.text import when


class AlertEmails:
    def __init__(self, settings: Settings, urls: Urls) -> None:
        self.settings = settings
        self.urls = urls

    def compose(self, session: Session, payload: dict[str, Any], _now: datetime) -> Letter:
        """To the publisher's alerts address as it is now. It is about a subscriber but
        carries nothing of theirs that opens anything: no feed URL or token, no page link;
        the console link asks staff to log in."""
        to = self.settings.alerts_email
        if not to:
            raise NotSendable("not sent: PODPASS_ALERTS_EMAIL was unset before it went out")
        alert = session.get(SharingAlert, payload["alert_id"])
        if alert is None:
            raise NotSendable("not sent: the alert is gone")
        subscriber = session.get(Subscriber, alert.subscriber_id)
        show = session.get(Show, alert.show_id)
        evidence = Evidence.model_validate(alert.evidence)
        zone = self.settings.timezone
        context = {
            "show": show.title if show else "a deleted show",
            "subscriber": subscriber.email if subscriber else f"subscriber {alert.subscriber_id}",
            "status": alert.status,
            "opened_at": when(alert.opened_at, zone),
            "reasons": [reason.replace("_", " ") for reason in evidence.reasons],
            "evidence": evidence,
            "first_seen": when(evidence.first_seen, zone),
            "last_seen": when(evidence.last_seen, zone),
            "console_url": self.urls.console_alert(alert.id, alert.status),
        }
        subject = "Sharing suspected: {show} feed of {subscriber}".format(**context)
        return Letter(to, subject, context)
