"""Outbound webhooks: the publisher's endpoints, one outbox message per event and endpoint
(written in the transaction of the change), and the signed body a delivery carries.

A body describes its subject as it is when the delivery goes out, the way emails are
rendered when sent: a retry hours later does not repeat stale facts, and a subscriber
created by a billing event carries the shows their plan gave them in that same event. No
body carries a feed token or feed URL: endpoints belong to third parties."""

import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.service import Action
from app.core.db.session import get_by_id
from app.core.errors import InvalidInput, NotFound
from app.core.tokens import webhook_secret
from app.models import (
    Episode,
    EpisodeStatus,
    OutboxKind,
    OutboxMessage,
    SharingAlert,
    Show,
    Subscriber,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.outbox import http_post
from app.outbox import service as outbox
from app.outbox.schemas import EndpointChange, EndpointIn, WebhookEvent
from app.outbox.service import NotDue, NotSendable

DELIVERY_HEADER = "Podpass-Delivery"
EVENT_HEADER = "Podpass-Event"
EXCERPT_CHARS = 500
ENDPOINT_DELETED = "not sent: the endpoint was deleted"


def _new_secret_id() -> str:
    return secrets.token_urlsafe(18)


def create_endpoint(
    session: Session, data: EndpointIn, secret_key: str, *, allow_private: bool
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret, which is shown only now. An endpoint on the server's
    own network is refused (unless `allow_private`), and so is a URL holding credentials:
    endpoints are listed as they are, and a delivery proves itself by its signature."""
    if data.url.username or data.url.password:
        raise InvalidInput(
            "This endpoint is not allowed: its URL holds a user name or password "
            "(`user:pass@`), which every admin listing endpoints would see. Leave them out: "
            "the receiver can check each delivery's Podpass-Signature instead."
        )
    try:
        http_post.check_url(str(data.url), allow_private=allow_private)
    except http_post.AddressRefused as exc:
        raise InvalidInput(f"This endpoint is not allowed: {exc}.") from None
    endpoint = WebhookEndpoint(
        url=str(data.url),
        events=sorted({event.value for event in data.events}),
        description=data.description,
        secret_id=_new_secret_id(),
    )
    session.add(endpoint)
    session.flush()
    audit.record(session, Action.WEBHOOK_CREATE, endpoint, {"events": endpoint.events})
    return endpoint, webhook_secret(secret_key, endpoint.secret_id)


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    return get_by_id(session, WebhookEndpoint, endpoint_id, "webhook endpoint")


def list_endpoints(session: Session) -> Sequence[WebhookEndpoint]:
    return session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all()


def change_endpoint(session: Session, endpoint: WebhookEndpoint, data: EndpointChange) -> None:
    """New events (deliveries already written keep theirs) and, when given, a new
    description. The URL stays: a new receiver is a new endpoint, with its own secret."""
    endpoint.events = sorted({event.value for event in data.events})
    if data.description is not None:
        endpoint.description = data.description
    session.flush()
    audit.record(session, Action.WEBHOOK_UPDATE, endpoint, {"events": endpoint.events})


def rotate_secret(
    session: Session, endpoint: WebhookEndpoint, secret_key: str, now: datetime
) -> str:
    """A new secret; deliveries from now on (retries too) are signed with it alone."""
    endpoint.secret_id = _new_secret_id()
    endpoint.rotated_at = now
    session.flush()
    audit.record(session, Action.WEBHOOK_ROTATE, endpoint)
    return webhook_secret(secret_key, endpoint.secret_id)


def delete_endpoint(session: Session, endpoint: WebhookEndpoint) -> None:
    """Its deliveries still waiting end `dead` now, saying why; one that a sender holds
    ends so after this try (its endpoint's id names no other endpoint: app/models.py)."""
    waiting = select(WebhookDelivery.message_id).where(WebhookDelivery.endpoint_id == endpoint.id)
    outbox.cancel(session, OutboxMessage.id.in_(waiting), reason=ENDPOINT_DELETED)
    audit.record(session, Action.WEBHOOK_DELETE, endpoint)
    session.delete(endpoint)
    session.flush()


def notify(
    session: Session,
    event: WebhookEvent,
    subject_id: int,
    *,
    now: datetime,
    due: datetime | None = None,
) -> int:
    """One delivery of `event` about `subject_id` to every endpoint that listens for it."""
    listening = [e for e in list_endpoints(session) if event.value in e.events]
    event_id = f"evt_{secrets.token_hex(12)}"
    created = int(now.timestamp())
    for endpoint in listening:
        message = outbox.enqueue(
            session,
            OutboxKind.WEBHOOK,
            {
                "endpoint_id": endpoint.id,
                "event_id": event_id,
                "type": event.value,
                "created": created,
                "subject_id": subject_id,
            },
            now=now,
            due=due,
        )
        session.add(WebhookDelivery(message_id=message.id, endpoint_id=endpoint.id, event=event))
    session.flush()
    return len(listening)


def sharing_suspected(session: Session, alert: SharingAlert, now: datetime) -> int:
    """Tell the endpoints that listen for it about a new sharing alert (call it once, when
    the alert opens)."""
    return notify(session, WebhookEvent.SHARING_SUSPECTED, alert.id, now=now)


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at else None


def _subscriber(subscriber: Subscriber) -> dict[str, Any]:
    return {
        "id": subscriber.id,
        "email": subscriber.email,
        "external_id": subscriber.external_id,
        "status": subscriber.status,
        "shows": [feed.show.slug for feed in subscriber.feeds if feed.entitled],
        "created_at": _iso(subscriber.created_at),
    }


def _episode(session: Session, episode: Episode, now: datetime) -> dict[str, Any]:
    if episode.status != EpisodeStatus.PUBLISHED or episode.published_at is None:
        raise NotSendable("not sent: the episode was unpublished")
    if episode.published_at > now:
        raise NotDue("the episode was rescheduled", episode.published_at)
    show = session.get_one(Show, episode.show_id)
    return {
        "id": episode.id,
        "guid": episode.guid,
        "title": episode.title,
        "show": show.slug,
        "show_title": show.title,
        "published_at": _iso(episode.published_at),
        "free": episode.free,
        "episode_type": episode.episode_type,
    }


def _alert(session: Session, alert: SharingAlert) -> dict[str, Any]:
    evidence = alert.evidence
    return {
        "id": alert.id,
        "status": alert.status,
        "opened_at": _iso(alert.opened_at),
        "show": session.get_one(Show, alert.show_id).slug,
        "downloads": evidence.get("downloads"),
        "networks": len(evidence.get("prefixes", [])),
        "apps": len(evidence.get("apps", [])),
    }


def _data(session: Session, event: WebhookEvent, subject_id: int, now: datetime) -> dict[str, Any]:
    if event is WebhookEvent.EPISODE_PUBLISHED:
        episode = session.get(Episode, subject_id)
        if episode is None:
            raise NotSendable("not sent: the episode was deleted")
        return {"episode": _episode(session, episode, now)}
    if event is WebhookEvent.SHARING_SUSPECTED:
        alert = session.get(SharingAlert, subject_id)
        if alert is None:
            raise NotSendable("not sent: the alert is gone")
        subscriber = session.get(Subscriber, alert.subscriber_id)
        return {
            "alert": _alert(session, alert),
            "subscriber": _subscriber(subscriber) if subscriber else {"id": alert.subscriber_id},
        }
    subscriber = session.get(Subscriber, subject_id)
    return {"subscriber": _subscriber(subscriber) if subscriber else {"id": subject_id}}


def delivery(
    session: Session, payload: dict[str, Any], secret_key: str, now: datetime
) -> tuple[str, str, bytes]:
    """Where a delivery goes, the secret it is signed with, and its body."""
    endpoint = session.get(WebhookEndpoint, payload["endpoint_id"])
    if endpoint is None:
        raise NotSendable(ENDPOINT_DELETED)
    event = WebhookEvent(payload["type"])
    body = {
        "id": payload["event_id"],
        "type": event.value,
        "created": payload["created"],
        "data": _data(session, event, payload["subject_id"], now),
    }
    return (
        endpoint.url,
        webhook_secret(secret_key, endpoint.secret_id),
        json.dumps(body, separators=(",", ":")).encode(),
    )


def record_attempt(
    session: Session,
    message_id: int,
    attempt: int,
    at: datetime,
    *,
    status_code: int | None,
    excerpt: str,
    error: str | None,
) -> None:
    session.add(
        WebhookAttempt(
            message_id=message_id,
            attempt=attempt,
            at=at,
            status_code=status_code,
            response_excerpt=excerpt[:EXCERPT_CHARS],
            error=error,
        )
    )
    session.flush()


def delivery_message(session: Session, endpoint: WebhookEndpoint, message_id: int) -> OutboxMessage:
    """The outbox message of one of the endpoint's deliveries (what a retry sends again)."""
    found = session.get(WebhookDelivery, message_id)
    if found is None or found.endpoint_id != endpoint.id:
        raise NotFound(f"Endpoint {endpoint.id} has no delivery {message_id}.")
    return outbox.get(session, message_id)


class Delivery(NamedTuple):
    delivery: WebhookDelivery
    message: OutboxMessage
    attempts: list[WebhookAttempt]


def deliveries(
    session: Session, endpoint: WebhookEndpoint, *, limit: int, offset: int
) -> list[Delivery]:
    """The endpoint's deliveries, newest first, each with its tries."""
    found = session.execute(
        select(WebhookDelivery, OutboxMessage)
        .join(OutboxMessage, OutboxMessage.id == WebhookDelivery.message_id)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    attempts: dict[int, list[WebhookAttempt]] = {}
    for attempt in session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.message_id.in_([message.id for _, message in found]))
        .order_by(WebhookAttempt.id)
    ):
        attempts.setdefault(attempt.message_id, []).append(attempt)
    return [Delivery(d, message, attempts.get(message.id, [])) for d, message in found]
