from typing import Annotated

from fastapi import APIRouter, Depends

from app.accounts.deps import AdminDep
from app.core.db.session import SessionDep
from app.core.deps import ClockDep, Limit, Offset, RowId, SettingsDep
from app.models import OutboxMessage, OutboxStatus, WebhookEndpoint
from app.outbox import service, webhooks
from app.outbox.schemas import (
    AttemptOut,
    DeliveryOut,
    EndpointChange,
    EndpointIn,
    EndpointOut,
    EndpointWithSecret,
    OutboxMessageOut,
    WebhookEvent,
)

router = APIRouter(prefix="/admin/outbox", tags=["outbox"], dependencies=[AdminDep])


def message_by_id(message_id: RowId, session: SessionDep) -> OutboxMessage:
    return service.get(session, message_id)


MessageDep = Annotated[OutboxMessage, Depends(message_by_id)]


@router.get("")
def list_messages(
    session: SessionDep,
    status: OutboxStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[OutboxMessageOut]:
    """Emails waiting, sent or given up on, newest first; `status=dead` lists those that
    ran out of tries or were refused for good."""
    found = service.list_some(session, status=status, limit=limit, offset=offset)
    return [OutboxMessageOut.model_validate(message, from_attributes=True) for message in found]


@router.post("/{message_id}/retry")
def retry_message(message: MessageDep, session: SessionDep, clock: ClockDep) -> OutboxMessageOut:
    """Send a dead message again, with a fresh set of tries, from now."""
    retried = service.retry(session, message, clock())
    return OutboxMessageOut.model_validate(retried, from_attributes=True)


endpoints = APIRouter(prefix="/admin/webhook-endpoints", tags=["webhooks"], dependencies=[AdminDep])


def endpoint_by_id(endpoint_id: RowId, session: SessionDep) -> WebhookEndpoint:
    return webhooks.get_endpoint(session, endpoint_id)


EndpointDep = Annotated[WebhookEndpoint, Depends(endpoint_by_id)]


def _endpoint_out(endpoint: WebhookEndpoint) -> EndpointOut:
    return EndpointOut.model_validate(endpoint, from_attributes=True)


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> EndpointWithSecret:
    return EndpointWithSecret(**_endpoint_out(endpoint).model_dump(), secret=secret)


@endpoints.post("", status_code=201)
def create_endpoint(
    data: EndpointIn, session: SessionDep, settings: SettingsDep
) -> EndpointWithSecret:
    """Register a URL for signed event deliveries. The answer holds its secret, once."""
    endpoint, secret = webhooks.create_endpoint(
        session, data, settings.secret_key, allow_private=settings.webhook_allow_private
    )
    return _with_secret(endpoint, secret)


@endpoints.get("")
def list_endpoints(session: SessionDep) -> list[EndpointOut]:
    return [_endpoint_out(endpoint) for endpoint in webhooks.list_endpoints(session)]


@endpoints.get("/{endpoint_id}")
def read_endpoint(endpoint: EndpointDep) -> EndpointOut:
    return _endpoint_out(endpoint)


@endpoints.patch("/{endpoint_id}")
def change_endpoint(
    endpoint: EndpointDep, data: EndpointChange, session: SessionDep
) -> EndpointOut:
    """Change the events it hears about (and its description); its URL and secret stay."""
    webhooks.change_endpoint(session, endpoint, data)
    return _endpoint_out(endpoint)


@endpoints.post("/{endpoint_id}/rotate-secret")
def rotate_secret(
    endpoint: EndpointDep, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> EndpointWithSecret:
    """A new secret, shown once; the old one stops signing at once, retries included."""
    secret = webhooks.rotate_secret(session, endpoint, settings.secret_key, clock())
    return _with_secret(endpoint, secret)


@endpoints.delete("/{endpoint_id}", status_code=204)
def delete_endpoint(endpoint: EndpointDep, session: SessionDep) -> None:
    webhooks.delete_endpoint(session, endpoint)


@endpoints.get("/{endpoint_id}/deliveries")
def list_deliveries(
    endpoint: EndpointDep,
    session: SessionDep,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[DeliveryOut]:
    """Deliveries newest first, each with its tries and the endpoint's answers. A dead one
    is retried with POST /admin/outbox/{message_id}/retry."""
    return [
        DeliveryOut(
            message_id=found.message.id,
            delivery_id=found.message.idempotency_key,
            event=WebhookEvent(found.delivery.event),
            status=OutboxStatus(found.message.status),
            created_at=found.message.created_at,
            sent_at=found.message.sent_at,
            next_attempt_at=found.message.next_attempt_at,
            attempts=[
                AttemptOut.model_validate(attempt, from_attributes=True)
                for attempt in found.attempts
            ],
        )
        for found in webhooks.deliveries(session, endpoint, limit=limit, offset=offset)
    ]
