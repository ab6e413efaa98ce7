from typing import Annotated

from fastapi import APIRouter, Query

from app.accounts.deps import require
from app.accounts.service import Permission
from app.core.db.schema import MAX_ROW_ID
from app.core.db.session import SessionDep
from app.core.deps import PageLinksDep, TokensDep, UrlsDep
from app.core.tokens import FeedTokens
from app.core.urls import Urls
from app.models import Subscriber, SubscriberStatus
from app.subscribers import service
from app.subscribers.deps import SubscriberDep
from app.subscribers.schemas import (
    EntitlementsUpdate,
    FeedOut,
    PageLink,
    SubscriberCreate,
    SubscriberFields,
    SubscriberOut,
    SubscriberUpdate,
)

router = APIRouter(
    prefix="/admin/subscribers",
    tags=["subscribers"],
    dependencies=[require(Permission.SUBSCRIBERS)],
)


def present(subscriber: Subscriber, tokens: FeedTokens, urls: Urls) -> SubscriberOut:
    """A subscriber in its API form, with their personal feed URLs."""
    return SubscriberOut(
        **dict(SubscriberFields.model_validate(subscriber)),
        feeds=[
            FeedOut(
                show=f.show.slug,
                title=f.show.title,
                entitled=f.entitled,
                feed_url=urls.feed(tokens.token_for(f.token_id)),
            )
            for f in subscriber.feeds
        ],
    )


@router.post("", status_code=201)
def create_subscriber(
    data: SubscriberCreate, session: SessionDep, tokens: TokensDep, urls: UrlsDep
) -> SubscriberOut:
    return present(service.create(session, data), tokens, urls)


@router.get("")
def list_subscribers(
    session: SessionDep,
    tokens: TokensDep,
    urls: UrlsDep,
    email: str | None = None,
    status: SubscriberStatus | None = None,
    external_id: Annotated[str | None, Query(description="The billing customer id.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> list[SubscriberOut]:
    found = service.list_some(
        session, email=email, status=status, limit=limit, offset=offset, external_id=external_id
    )
    return [present(s, tokens, urls) for s in found]


@router.get("/{subscriber_id}")
def read_subscriber(subscriber: SubscriberDep, tokens: TokensDep, urls: UrlsDep) -> SubscriberOut:
    return present(subscriber, tokens, urls)


@router.patch("/{subscriber_id}", summary="Correct a subscriber's email, name or billing id")
def update_subscriber(
    subscriber: SubscriberDep,
    data: SubscriberUpdate,
    session: SessionDep,
    tokens: TokensDep,
    urls: UrlsDep,
) -> SubscriberOut:
    return present(service.update(session, subscriber, data), tokens, urls)


@router.put("/{subscriber_id}/shows")
def set_entitlements(
    subscriber: SubscriberDep,
    data: EntitlementsUpdate,
    session: SessionDep,
    tokens: TokensDep,
    urls: UrlsDep,
) -> SubscriberOut:
    return present(service.set_shows(session, subscriber, data.shows), tokens, urls)


@router.post("/{subscriber_id}/lapse", summary="Lapse a subscriber")
def lapse(
    subscriber: SubscriberDep, session: SessionDep, tokens: TokensDep, urls: UrlsDep
) -> SubscriberOut:
    """Their feeds show a "renew" notice; the same URLs work again on renewal."""
    return present(service.set_status(session, subscriber, SubscriberStatus.LAPSED), tokens, urls)


@router.post("/{subscriber_id}/reinstate", summary="Reinstate a subscriber")
def reinstate(
    subscriber: SubscriberDep, session: SessionDep, tokens: TokensDep, urls: UrlsDep
) -> SubscriberOut:
    return present(service.set_status(session, subscriber, SubscriberStatus.ACTIVE), tokens, urls)


@router.post("/{subscriber_id}/revoke", summary="Revoke a subscriber")
def revoke(
    subscriber: SubscriberDep, session: SessionDep, tokens: TokensDep, urls: UrlsDep
) -> SubscriberOut:
    """Their feeds and audio answer 410 for good."""
    return present(service.set_status(session, subscriber, SubscriberStatus.REVOKED), tokens, urls)


@router.post("/{subscriber_id}/shows/{slug}/rotate")
def rotate_feed(
    subscriber: SubscriberDep, slug: str, session: SessionDep, tokens: TokensDep, urls: UrlsDep
) -> SubscriberOut:
    """Give the subscriber a new URL for one show; the old one stops working at once."""
    return present(service.rotate(session, subscriber, slug), tokens, urls)


@router.post("/{subscriber_id}/page-link")
def mint_page_link(subscriber: SubscriberDep, links: PageLinksDep, urls: UrlsDep) -> PageLink:
    """A signed link to the subscriber's own page (feeds, app buttons, URL reset), to email
    them. It expires after PODPASS_PAGE_LINK_DAYS."""
    return service.page_link(links, urls, subscriber.id)
