from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AnyHttpUrl, BaseModel, Field, UrlConstraints

from app.models import OutboxKind, OutboxStatus


class EmailTemplate(StrEnum):
    """The emails Podpass sends, each from `templates/<name>.html` and `.txt`: to a
    subscriber, except those `to_publisher`."""

    WELCOME = "welcome"
    LAPSED = "lapsed"
    RENEWED = "renewed"
    URL_RESET = "url_reset"
    LINKS = "links"  # asked for with "email me my links"
    NEW_EPISODE = "new_episode"  # opted in to, on the subscriber's page
    SHARING_ALERT = "sharing_alert"  # to PODPASS_ALERTS_EMAIL
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a template name) to staff who forgot theirs

    @property
    def to_publisher(self) -> bool:
        """Addressed to the publisher's staff, never to a subscriber."""
        return self in (EmailTemplate.SHARING_ALERT, EmailTemplate.PASSWORD_RESET)


class WebhookEvent(StrEnum):
    """What a publisher's webhook endpoint can hear about."""

    SUBSCRIBER_CREATED = "subscriber.created"
    SUBSCRIBER_LAPSED = "subscriber.lapsed"
    SUBSCRIBER_RENEWED = "subscriber.renewed"
    SUBSCRIBER_REVOKED = "subscriber.revoked"
    EPISODE_PUBLISHED = "episode.published"
    SHARING_SUSPECTED = "sharing.suspected"


class OutboxMessageOut(BaseModel):
    id: int
    kind: OutboxKind
    idempotency_key: str = Field(
        description="The same on every try: an email's Message-ID is `<key@host>`."
    )
    payload: dict[str, Any] = Field(
        description="What to send. An email: its `template`, `to` and `subscriber_id` (a "
        "sharing alert's, to the publisher: `alert_id`); it is rendered when sent, with a "
        "fresh page link."
    )
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime = Field(
        description="When a sender may next take it: after a failure's backoff, or when a "
        "sender's claim runs out (`sending`)."
    )
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


EndpointUrl = Annotated[
    AnyHttpUrl, UrlConstraints(max_length=2048, allowed_schemes=["http", "https"])
]


class EndpointIn(BaseModel):
    url: EndpointUrl = Field(description="Where deliveries are POSTed (http or https).")
    events: list[WebhookEvent] = Field(min_length=1, description="The events it hears about.")
    description: str = Field(default="", max_length=255)


class EndpointChange(BaseModel):
    events: list[WebhookEvent] = Field(min_length=1, description="The events it hears about.")
    description: str | None = Field(default=None, max_length=255, description="Null: kept.")


class EndpointOut(BaseModel):
    id: int
    url: str
    events: list[WebhookEvent]
    description: str
    created_at: datetime
    rotated_at: datetime | None


class EndpointWithSecret(EndpointOut):
    secret: str = Field(
        description="Shown once, here: deliveries are signed with it the way billing "
        "webhooks are (`Podpass-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "
        '"<t>.<body>">`). Rotating the secret gives a new one, and the old one stops at once.'
    )


class AttemptOut(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None = Field(description="The endpoint's answer; null: none came.")
    response_excerpt: str = Field(description="The start of the answer's body.")
    error: str | None


class DeliveryOut(BaseModel):
    message_id: int = Field(description="Its outbox message: retry a dead one there.")
    delivery_id: str = Field(description="The `Podpass-Delivery` header, the same every try.")
    event: WebhookEvent
    status: OutboxStatus
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime
    attempts: list[AttemptOut]
