"""The subscriber's page, reached through a signed, expiring link (no account needed)."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from app.config import Settings
from app.db import SessionDep
from app.deps import PageLinksDep, SettingsDep, TokensDep
from app.feeds.render import render_opml
from app.models import Subscriber, SubscriberStatus
from app.portal import service
from app.portal.service import LinkProblem

router = APIRouter(prefix="/my", tags=["subscriber page"])
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
}


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


def _page_url(settings: Settings, signed: str) -> str:
    return f"{settings.public_base_url}/my/{signed}"


@router.get("/{signed}", response_class=HTMLResponse, summary="A subscriber's own page")
def page(
    signed: str,
    request: Request,
    subscriber: LinkedSubscriber,
    tokens: TokensDep,
    settings: SettingsDep,
    reset: str | None = None,
) -> Response:
    cards = service.cards(subscriber, tokens, settings.public_base_url)
    page_url = _page_url(settings, signed)
    return templates.TemplateResponse(
        request,
        "page.html",
        {
            "publisher": settings.publisher_name,
            "subscriber": subscriber,
            "cards": cards,
            "lapsed": subscriber.status == SubscriberStatus.LAPSED,
            "renew_url": settings.renew_url,
            "page_url": page_url,
            "opml_url": f"{page_url}/podcasts.opml",
            "reset_title": next((c.title for c in cards if c.slug == reset), None),
        },
        headers=HEADERS,
    )


@router.post(
    "/{signed}/reset/{slug}",
    response_class=HTMLResponse,
    summary="Reset one feed URL (asks for confirmation first)",
)
def reset_feed(
    signed: str,
    slug: str,
    request: Request,
    subscriber: LinkedSubscriber,
    session: SessionDep,
    settings: SettingsDep,
    confirm: Annotated[str | None, Form()] = None,
) -> Response:
    show = service.entitled_show(subscriber, slug)
    page_url = _page_url(settings, signed)
    if confirm != "yes":
        return templates.TemplateResponse(
            request,
            "confirm.html",
            {
                "publisher": settings.publisher_name,
                "title": show.title,
                "slug": slug,
                "page_url": page_url,
            },
            headers=HEADERS,
        )
    service.reset(session, subscriber, slug)
    return RedirectResponse(f"{page_url}?reset={slug}", status_code=303, headers=HEADERS)


@router.get("/{signed}/podcasts.opml", summary="All the subscriber's feeds as OPML")
def opml(subscriber: LinkedSubscriber, tokens: TokensDep, settings: SettingsDep) -> Response:
    cards = service.cards(subscriber, tokens, settings.public_base_url)
    document = render_opml(
        f"{settings.publisher_name} podcasts", [(card.title, card.feed_url) for card in cards]
    )
    return Response(
        document,
        media_type="text/x-opml; charset=utf-8",
        headers=HEADERS | {"Content-Disposition": 'attachment; filename="podcasts.opml"'},
    )
