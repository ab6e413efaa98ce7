"""The subscriber's page, reached through a signed, expiring link (no account needed), and
each show's public page."""

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Header, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from app.audit import service as audit
from app.core.config import Settings
from app.core.db.session import SessionDep
from app.core.deps import (
    ClockDep,
    FormTokensDep,
    PageLinksDep,
    SettingsDep,
    TokensDep,
    UnsubscribeLinksDep,
    UrlsDep,
)
from app.core.routing import get_and_head
from app.core.tokens import FormTokens
from app.core.urls import Urls
from app.feeds import opml
from app.models import AuditVia, Subscriber, SubscriberStatus
from app.portal import service
from app.portal.deps import AskerDep
from app.portal.service import LinkProblem

# Each router's routes share their tags and answer pages (but where they say otherwise).
my = APIRouter(prefix="/my/{signed}", tags=["subscriber page"], default_response_class=HTMLResponse)
public = APIRouter(tags=["show page"], default_response_class=HTMLResponse)
unsubscribing = APIRouter(
    prefix="/unsubscribe/{signed}", tags=["subscriber page"], default_response_class=HTMLResponse
)
HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
}
# The show page is the same for everyone, and new free episodes should show up soon.
PUBLIC_HEADERS = {"Cache-Control": "public, max-age=300"}
# How long a page's "email me my links" form can be posted: a cached show page (5 min) or a
# page left open in a tab keeps working.
FORM_MAX_AGE_SECONDS = 24 * 3600
LINKS_ON_THEIR_WAY = "links_requested.html"


def _layout(request: Request) -> dict[str, Any]:
    """What every page's title names: the publisher."""
    settings: Settings = request.app.state.settings
    return {"publisher": settings.publisher_name}


templates = Jinja2Templates(
    directory=Path(__file__).parent / "templates", context_processors=[_layout]
)


def _page(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] = HEADERS,
) -> Response:
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=headers
    )


def _links_form(urls: Urls, tokens: FormTokens) -> dict[str, str]:
    return {"action": urls.email_my_links(), "token": tokens.make()}


def _problem_page(request: Request, exc: Exception) -> Response:
    """A person-readable page instead of JSON: these URLs are opened from an email."""
    assert isinstance(exc, LinkProblem)
    state = request.app.state
    links_form = _links_form(state.urls, state.form_tokens) if exc.offer_links else None
    return _page(
        request,
        "problem.html",
        {"title": exc.title, "message": exc.message, "links_form": links_form},
        status_code=exc.status_code,
    )


def install_problem_pages(app: FastAPI) -> None:
    app.add_exception_handler(LinkProblem, _problem_page)


def subscriber_from_link(
    signed: str, session: SessionDep, links: PageLinksDep, clock: ClockDep
) -> Subscriber:
    subscriber = service.subscriber_for(session, links, signed)
    audit.act_as(session, audit.Actor(subscriber.email, AuditVia.PORTAL), clock)
    return subscriber


LinkedSubscriber = Annotated[Subscriber, Depends(subscriber_from_link)]


@get_and_head(my, "", summary="A subscriber's own page")
def page(
    signed: str,
    request: Request,
    subscriber: LinkedSubscriber,
    session: SessionDep,
    tokens: TokensDep,
    settings: SettingsDep,
    urls: UrlsDep,
    reset: str | None = None,
) -> Response:
    cards = service.cards(subscriber, tokens, urls)
    return _page(
        request,
        "page.html",
        {
            "subscriber": subscriber,
            "cards": cards,
            "lapsed": subscriber.status == SubscriberStatus.LAPSED,
            "renew_url": settings.renew_url,
            "opml_url": urls.subscriber_opml(signed),
            "reset_urls": {card.slug: urls.subscriber_reset(signed, card.slug) for card in cards},
            "reset_title": next((c.title for c in cards if c.slug == reset), None),
            "new_episode_emails": service.wants_new_episode_emails(session, subscriber.id),
            "new_episode_emails_url": urls.subscriber_new_episode_emails(signed),
        },
    )


@my.post(
    "/new-episode-emails",
    response_class=RedirectResponse,
    status_code=303,
    summary="Turn new-episode emails on or off",
)
def set_new_episode_emails(
    signed: str,
    subscriber: LinkedSubscriber,
    session: SessionDep,
    urls: UrlsDep,
    on: Annotated[bool, Form()],
) -> Response:
    service.set_new_episode_emails(session, subscriber.id, on=on)
    return RedirectResponse(urls.subscriber_page(signed), status_code=303, headers=HEADERS)


@my.post("/reset/{slug}", summary="Reset one feed URL (asks for confirmation first)")
def reset_feed(
    signed: str,
    slug: str,
    request: Request,
    subscriber: LinkedSubscriber,
    session: SessionDep,
    urls: UrlsDep,
    clock: ClockDep,
    confirm: Annotated[str | None, Form()] = None,
) -> Response:
    show = service.entitled_show(subscriber, slug)
    page_url = urls.subscriber_page(signed)
    if confirm != "yes":
        return _page(
            request,
            "confirm.html",
            {
                "title": show.title,
                "reset_url": urls.subscriber_reset(signed, slug),
                "page_url": page_url,
            },
        )
    service.reset(session, subscriber, slug, now=clock())
    return RedirectResponse(
        f"{page_url}?{urlencode({'reset': slug})}", status_code=303, headers=HEADERS
    )


@get_and_head(
    my,
    "/podcasts.opml",
    response_class=Response,
    summary="All the subscriber's feeds as OPML",
)
def get_opml(
    subscriber: LinkedSubscriber, tokens: TokensDep, settings: SettingsDep, urls: UrlsDep
) -> Response:
    feeds = opml.subscriber_feeds(subscriber, tokens, urls)
    return Response(
        opml.render(f"{settings.publisher_name} podcasts", feeds),
        media_type=opml.MEDIA_TYPE,
        headers=HEADERS | {"Content-Disposition": 'attachment; filename="podcasts.opml"'},
    )


@get_and_head(
    public,
    "/shows/{slug}",
    summary="A show's public page: its free feed, free episodes and where to subscribe",
)
def show_page(
    slug: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    urls: UrlsDep,
    clock: ClockDep,
    forms: FormTokensDep,
) -> Response:
    show = service.show_page(session, urls, slug, now=clock(), renew_url=settings.renew_url)
    return _page(
        request,
        "show.html",
        {"page": show, "links_form": _links_form(urls, forms)},
        headers=PUBLIC_HEADERS,
    )


def _same_origin(origin: str | None, base_url: str) -> bool:
    """A browser names the page a form was posted from; a page elsewhere is refused. No
    Origin (an old browser, a privacy extension), or "null" (what Chromium sends from our
    pages, which say `Referrer-Policy: no-referrer`), falls back on the form token alone."""
    if origin is None or origin == "null":
        return True
    ours = urlsplit(base_url)
    return origin.rstrip("/") == f"{ours.scheme}://{ours.netloc}"


# Same shape as reset_feed and the other routes here: FastAPI declares each route's path,
# summary and dependencies in its signature. What the pages share (headers, the publisher's
# name) is in _page and _layout.
@public.post(
    "/email-my-links",
    summary='"Email me my links": a fresh page link, to a subscriber\'s address only',
)
def email_my_links(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    forms: FormTokensDep,
    asker: AskerDep,
    email: Annotated[str, Form(max_length=320)],
    form_token: Annotated[str, Form(max_length=200)],
    origin: Annotated[str | None, Header()] = None,
) -> Response:
    """The answer is the same whether or not the address subscribes."""
    if not forms.valid(form_token) or not _same_origin(origin, settings.public_base_url):
        raise LinkProblem(
            403,
            "Please try again",
            "This form was open too long, or was sent from another site. Reload the page "
            "and send it again.",
        )
    service.request_links(session, email, asker, now=clock())
    return _page(request, LINKS_ON_THEIR_WAY, {})


@get_and_head(unsubscribing, "", summary="Confirm turning new-episode emails off")
def confirm_unsubscribe(
    signed: str, request: Request, urls: UrlsDep, links: UnsubscribeLinksDep
) -> Response:
    """A GET changes nothing: mail scanners open links. The button posts."""
    service.unsubscribing(links, signed)
    return _page(request, "unsubscribe.html", {"action": urls.unsubscribe(signed), "done": False})


@unsubscribing.post("", summary="Turn new-episode emails off (RFC 8058 one-click: no login)")
def unsubscribe(
    signed: str, request: Request, session: SessionDep, links: UnsubscribeLinksDep
) -> Response:
    service.unsubscribe(session, links, signed)
    return _page(request, "unsubscribe.html", {"action": "", "done": True})


router = APIRouter()
for part in (my, public, unsubscribing):
    router.include_router(part)
