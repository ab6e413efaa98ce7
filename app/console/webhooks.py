"""The console's webhook endpoints page (owners, as in the admin API: an endpoint sends
subscribers' emails to a third party, and its secret proves who sent them): the endpoints,
a new one, its events, its secret rotated, its deliveries with their tries, a dead one sent
again. Every action calls the service the admin API calls (app/outbox/router.py)."""

from collections.abc import Mapping
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Form, Request, Response
from pydantic import BaseModel, ValidationError

from app.accounts.deps import SessionsDep
from app.console.deps import CONSOLE, OWNER, OWNER_FORM
from app.console.forms import problems
from app.console.pages import redirect, redirect_showing_once, render, render_showing_once
from app.core.db.session import SessionDep
from app.core.deps import ClockDep, RowId, SettingsDep
from app.core.errors import InvalidInput
from app.models import WebhookEndpoint
from app.outbox import service as outbox
from app.outbox import webhooks
from app.outbox.schemas import EndpointChange, EndpointIn, WebhookEvent

router = APIRouter(prefix=f"{CONSOLE}/webhooks", include_in_schema=False)

NEW_SECRET_COOKIE = "podpass_new_secret"  # noqa: S105 (a cookie name)
DELIVERIES_SHOWN = 50
NO_EVENTS = "events: tick at least one event for it to hear about."


def endpoint_by_id(endpoint_id: RowId, session: SessionDep) -> WebhookEndpoint:
    return webhooks.get_endpoint(session, endpoint_id)


EndpointDep = Annotated[WebhookEndpoint, Depends(endpoint_by_id)]


M = TypeVar("M", bound=BaseModel)


def _checked(model: type[M], fields: Mapping[str, object]) -> M:
    """Raises InvalidInput with every problem, one a line, each in a person's words."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        found = [NO_EVENTS if line.startswith("events:") else line for line in problems(exc)]
        raise InvalidInput("\n".join(found)) from None


class EndpointForm(BaseModel):
    """An endpoint as the forms post it, as typed, so that a refused form shows it again."""

    url: str = ""
    description: str = ""
    events: list[str] = []

    def new(self) -> EndpointIn:
        fields = {"url": self.url.strip(), "events": self.events, "description": self.description}
        return _checked(EndpointIn, fields)

    def change(self) -> EndpointChange:
        return _checked(EndpointChange, {"events": self.events, "description": self.description})


def _endpoint_page(
    request: Request,
    session: SessionDep,
    endpoint: WebhookEndpoint,
    form: EndpointForm | None = None,
    refused: InvalidInput | None = None,
) -> Response:
    context = {
        "endpoint": endpoint,
        "form": form or EndpointForm(description=endpoint.description, events=endpoint.events),
        "events": list(WebhookEvent),
        "deliveries": webhooks.deliveries(session, endpoint, limit=DELIVERIES_SHOWN, offset=0),
        "shown": DELIVERIES_SHOWN,
        "problems": refused.detail.split("\n") if refused else [],
    }
    if refused is not None:
        return render(request, "webhook.html", context, status_code=refused.status_code)
    return render_showing_once(
        request, "webhook.html", context, cookie=NEW_SECRET_COOKIE, key="new_secret"
    )


def _list_page(
    request: Request,
    session: SessionDep,
    form: EndpointForm | None = None,
    refused: InvalidInput | None = None,
) -> Response:
    return render(
        request,
        "webhooks.html",
        {
            "endpoints": webhooks.list_endpoints(session),
            "form": form or EndpointForm(),
            "events": list(WebhookEvent),
            "problems": refused.detail.split("\n") if refused else [],
        },
        status_code=refused.status_code if refused else 200,
    )


def _at(endpoint: WebhookEndpoint) -> str:
    return f"{CONSOLE}/webhooks/{endpoint.id}"


@router.get("", dependencies=OWNER)
def endpoint_list(request: Request, session: SessionDep) -> Response:
    return _list_page(request, session)


@router.post("", dependencies=OWNER_FORM)
def create_endpoint(
    request: Request,
    form: Annotated[EndpointForm, Form()],
    session: SessionDep,
    settings: SettingsDep,
    sessions: SessionsDep,
) -> Response:
    """The secret is shown once, on the endpoint's page this redirects to."""
    try:
        endpoint, secret = webhooks.create_endpoint(
            session,
            form.new(),
            settings.secret_key,
            allow_private=settings.webhook_allow_private,
        )
    except InvalidInput as refused:  # refused before anything was written
        return _list_page(request, session, form, refused)
    return redirect_showing_once(
        _at(endpoint),
        cookie=NEW_SECRET_COOKIE,
        secret=secret,
        secure=sessions.secure,
        flash=f"Endpoint {endpoint.url} added: it hears {', '.join(endpoint.events)}.",
    )


@router.get("/{endpoint_id}", dependencies=OWNER)
def endpoint_page(request: Request, endpoint: EndpointDep, session: SessionDep) -> Response:
    return _endpoint_page(request, session, endpoint)


@router.post("/{endpoint_id}", dependencies=OWNER_FORM)
def change_endpoint(
    request: Request,
    endpoint: EndpointDep,
    form: Annotated[EndpointForm, Form()],
    session: SessionDep,
) -> Response:
    try:
        change = form.change()
    except InvalidInput as refused:
        return _endpoint_page(request, session, endpoint, form, refused)
    webhooks.change_endpoint(session, endpoint, change)
    return redirect(_at(endpoint), flash=f"Saved: it hears {', '.join(endpoint.events)}.")


@router.post("/{endpoint_id}/rotate", dependencies=OWNER_FORM)
def rotate_secret(
    endpoint: EndpointDep,
    session: SessionDep,
    settings: SettingsDep,
    sessions: SessionsDep,
    clock: ClockDep,
) -> Response:
    secret = webhooks.rotate_secret(session, endpoint, settings.secret_key, clock())
    return redirect_showing_once(
        _at(endpoint),
        cookie=NEW_SECRET_COOKIE,
        secret=secret,
        secure=sessions.secure,
        flash="New secret made: the old one signs nothing from now on, retries included.",
    )


@router.post("/{endpoint_id}/delete", dependencies=OWNER_FORM)
def delete_endpoint(endpoint: EndpointDep, session: SessionDep) -> Response:
    url = endpoint.url
    webhooks.delete_endpoint(session, endpoint)
    return redirect(
        f"{CONSOLE}/webhooks",
        flash=f"Endpoint {url} deleted: its waiting deliveries will not be sent.",
    )


@router.post("/{endpoint_id}/deliveries/{message_id}/retry", dependencies=OWNER_FORM)
def retry_delivery(
    endpoint: EndpointDep, message_id: RowId, session: SessionDep, clock: ClockDep
) -> Response:
    message = webhooks.delivery_message(session, endpoint, message_id)
    outbox.retry(session, message, clock())
    return redirect(
        _at(endpoint),
        flash=f"Delivery {message.id} goes out again, with a fresh set of tries.",
    )
