"""The subscriber's page, reached through a signed, expiring link (no account needed), and
each show's public page."""

from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from app import opml
from app.config import Settings
from app.db import SessionDep
from app.deps import ClockDep, PageLinksDep, SettingsDep, TokensDep, UrlsDep
from app.models import Subscriber, SubscriberStatus
from app.portal import service
from app.portal.service import LinkProblem

router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
}
# The show page is the same for everyone, and new free episodes should show up soon.
PUBLIC_HEADERS = {"Cache-Control": "public, max-age=300"}


def _problem_page(request: Request, exc: Exception) -> Response:
    """A person-readable page instead of JSON: these URLs are opened from an email."""
    assert isinstance(exc, LinkProblem)
    settings: Settings = request.app.state.settings
    return templates.TemplateResponse(
        request,
        "problem.html",
        {"publisher": settings.publisher_name, "title": exc.title, "message": exc.message},
        status_code=exc.status_code,
        headers=HEADERS,
    )


def install_problem_pages(app: FastAPI) -> None:
    app.add_exception_handler(LinkProblem, _problem_page)


def subscriber_from_link(signed: str, session: SessionDep, links: PageLinksDep) -> Subscriber:
    return service.subscriber_for(session, links, signed)


LinkedSubscriber = Annotated[Subscriber, Depends(subscriber_from_link)]


@router.get(
    "/my/{signed}",
    response_class=HTMLResponse,
    tags=["subscriber page"],
    summary="A subscriber's own page",
)
def page(
    signed: str,
    request: Request,
    subscriber: LinkedSubscriber,
    tokens: TokensDep,
    settings: SettingsDep,
    urls: UrlsDep,
    reset: str | None = None,
) -> Response:
    cards = service.cards(subscriber, tokens, urls)
    return templates.TemplateResponse(
        request,
        "page.html",
        {
            "publisher": settings.publisher_name,
            "subscriber": subscriber,
            "cards": cards,
            "lapsed": subscriber.status == SubscriberStatus.LAPSED,
            "renew_url": settings.renew_url,
            "opml_url": urls.subscriber_opml(signed),
            "reset_urls": {card.slug: urls.subscriber_reset(signed, card.slug) for card in cards},
            "reset_title": next((c.title for c in cards if c.slug == reset), None),
        },
        headers=HEADERS,
    )


@router.post(
    "/my/{signed}/reset/{slug}",
    response_class=HTMLResponse,
    tags=["subscriber page"],
    summary="Reset one feed URL (asks for confirmation first)",
)
def reset_feed(
    signed: str,
    slug: str,
    request: Request,
    subscriber: LinkedSubscriber,
    session: SessionDep,
    settings: SettingsDep,
    urls: UrlsDep,
    confirm: Annotated[str | None, Form()] = None,
) -> Response:
    show = service.entitled_show(subscriber, slug)
    page_url = urls.subscriber_page(signed)
    if confirm != "yes":
        return templates.TemplateResponse(
            request,
            "confirm.html",
            {
                "publisher": settings.publisher_name,
                "title": show.title,
                "reset_url": urls.subscriber_reset(signed, slug),
                "page_url": page_url,
            },
            headers=HEADERS,
        )
    service.reset(session, subscriber, slug)
    return RedirectResponse(
        f"{page_url}?{urlencode({'reset': slug})}", status_code=303, headers=HEADERS
    )


@router.get(
    "/my/{signed}/podcasts.opml",
    tags=["subscriber page"],
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


@router.head("/shows/{slug}", include_in_schema=False)
@router.get(
    "/shows/{slug}",
    response_class=HTMLResponse,
    tags=["show page"],
    summary="A show's public page: its free feed, free episodes and where to subscribe",
)
def show_page(
    slug: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    urls: UrlsDep,
    clock: ClockDep,
) -> Response:
    show = service.show_page(session, urls, slug, now=clock(), renew_url=settings.renew_url)
    return templates.TemplateResponse(
        request,
        "show.html",
        {"publisher": settings.publisher_name, "page": show},
        headers=PUBLIC_HEADERS,
    )
