"""The subscriber's page, reached through a signed, expiring link (no account needed)."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from app.db import SessionDep
from app.deps import PageLinksDep, SettingsDep, TokensDep
from app.errors import AppError
from app.feeds.render import render_opml
from app.models import SubscriberStatus
from app.portal import service
from app.portal.service import LinkProblem

router = APIRouter(prefix="/my", tags=["subscriber page"])
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
}


def _problem(
    request: Request, settings: SettingsDep, status: int, title: str, message: str
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "problem.html",
        {"publisher": settings.publisher_name, "title": title, "message": message},
        status_code=status,
        headers=HEADERS,
    )


@router.get("/{signed}", response_class=HTMLResponse, summary="A subscriber's own page")
def page(
    signed: str,
    request: Request,
    session: SessionDep,
    links: PageLinksDep,
    tokens: TokensDep,
    settings: SettingsDep,
    reset: str | None = None,
) -> Response:
    try:
        subscriber = service.subscriber_for(session, links, signed)
    except LinkProblem as problem:
        return _problem(request, settings, problem.status_code, problem.title, problem.message)
    cards = service.cards(subscriber, tokens, settings.public_base_url)
    page_url = f"{settings.public_base_url}/my/{signed}"
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
    session: SessionDep,
    links: PageLinksDep,
    settings: SettingsDep,
    confirm: Annotated[str | None, Form()] = None,
) -> Response:
    page_url = f"{settings.public_base_url}/my/{signed}"
    try:
        subscriber = service.subscriber_for(session, links, signed)
        if confirm != "yes":
            card = next(f.show for f in subscriber.feeds if f.entitled and f.show.slug == slug)
            return templates.TemplateResponse(
                request,
                "confirm.html",
                {
                    "publisher": settings.publisher_name,
                    "title": card.title,
                    "slug": slug,
                    "page_url": page_url,
                },
                headers=HEADERS,
            )
        service.reset(session, subscriber, slug)
    except LinkProblem as problem:
        return _problem(request, settings, problem.status_code, problem.title, problem.message)
    except (AppError, StopIteration):
        return _problem(
            request, settings, 404, "Nothing to reset", "That show isn't part of your subscription."
        )
    return RedirectResponse(f"{page_url}?reset={slug}", status_code=303, headers=HEADERS)


@router.get("/{signed}/podcasts.opml", summary="All the subscriber's feeds as OPML")
def opml(
    signed: str,
    request: Request,
    session: SessionDep,
    links: PageLinksDep,
    tokens: TokensDep,
    settings: SettingsDep,
) -> Response:
    try:
        subscriber = service.subscriber_for(session, links, signed)
    except LinkProblem as problem:
        return _problem(request, settings, problem.status_code, problem.title, problem.message)
    cards = service.cards(subscriber, tokens, settings.public_base_url)
    document = render_opml(
        f"{settings.publisher_name} podcasts", [(card.title, card.feed_url) for card in cards]
    )
    return Response(
        document,
        media_type="text/x-opml; charset=utf-8",
        headers=HEADERS | {"Content-Disposition": 'attachment; filename="podcasts.opml"'},
    )
