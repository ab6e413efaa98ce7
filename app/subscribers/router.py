from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.config import Settings
from app.db import SessionDep
from app.deps import AdminDep, PageLinksDep, SettingsDep, TokensDep
from app.feeds.service import feed_url
from app.models import Subscriber, SubscriberStatus
from app.subscribers import service
from app.subscribers.schemas import (
    EntitlementsUpdate,
    FeedOut,
    PageLink,
    SubscriberCreate,
    SubscriberOut,
)
from app.tokens import PageLinks

router = APIRouter(prefix="/admin/subscribers", tags=["subscribers"], dependencies=[AdminDep])


def subscriber_by_id(subscriber_id: int, session: SessionDep) -> Subscriber:
    return service.get(session, subscriber_id)


SubscriberDep = Annotated[Subscriber, Depends(subscriber_by_id)]


class Presenter:
    """Turns a subscriber into its API form, with personal feed URLs."""

    def __init__(self, tokens: TokensDep, settings: SettingsDep) -> None:
        self.tokens = tokens
        self.base_url = settings.public_base_url

    def __call__(self, subscriber: Subscriber) -> SubscriberOut:
        return SubscriberOut(
            id=subscriber.id,
            email=subscriber.email,
            external_id=subscriber.external_id,
            status=subscriber.status,
            created_at=subscriber.created_at,
            updated_at=subscriber.updated_at,
            feeds=[
                FeedOut(
                    show=f.show.slug,
                    title=f.show.title,
                    entitled=f.entitled,
                    feed_url=feed_url(self.base_url, self.tokens.token_for(f.token_id)),
                )
                for f in subscriber.feeds
            ],
        )


PresenterDep = Annotated[Presenter, Depends()]


@router.post("", status_code=201)
def create_subscriber(
    data: SubscriberCreate, session: SessionDep, present: PresenterDep
) -> SubscriberOut:
    return present(service.create(session, data))


@router.get("")
def list_subscribers(
    session: SessionDep,
    present: PresenterDep,
    email: str | None = None,
    status: SubscriberStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[SubscriberOut]:
    found = service.list_some(session, email=email, status=status, limit=limit, offset=offset)
    return [present(s) for s in found]


@router.get("/{subscriber_id}")
def read_subscriber(subscriber: SubscriberDep, present: PresenterDep) -> SubscriberOut:
    return present(subscriber)


@router.put("/{subscriber_id}/shows")
def set_entitlements(
    subscriber: SubscriberDep, data: EntitlementsUpdate, session: SessionDep, present: PresenterDep
) -> SubscriberOut:
    return present(service.set_shows(session, subscriber, data.shows))


def _status_route(status: SubscriberStatus, summary: str) -> None:
    def change_status(
        subscriber: SubscriberDep, session: SessionDep, present: PresenterDep
    ) -> SubscriberOut:
        return present(service.set_status(session, subscriber, status))

    router.add_api_route(
        f"/{{subscriber_id}}/{summary}",
        change_status,
        methods=["POST"],
        summary=f"{summary.capitalize()} a subscriber",
        name=summary,
    )


_status_route(SubscriberStatus.LAPSED, "lapse")
_status_route(SubscriberStatus.ACTIVE, "reinstate")
_status_route(SubscriberStatus.REVOKED, "revoke")


@router.post("/{subscriber_id}/shows/{slug}/rotate")
def rotate_feed(
    subscriber: SubscriberDep, slug: str, session: SessionDep, present: PresenterDep
) -> SubscriberOut:
    """Give the subscriber a new URL for one show; the old one stops working at once."""
    return present(service.rotate(session, subscriber, slug))


@router.post("/{subscriber_id}/page-link")
def mint_page_link(
    subscriber: SubscriberDep, links: PageLinksDep, settings: SettingsDep
) -> PageLink:
    """A signed link to the subscriber's own page (feeds, app buttons, URL reset), to email
    them. It expires after PODPASS_PAGE_LINK_DAYS."""
    return page_link(links, settings, subscriber.id)


def page_link(links: PageLinks, settings: Settings, subscriber_id: int) -> PageLink:
    signed, expires = links.make(subscriber_id)
    return PageLink(
        url=f"{settings.public_base_url}/my/{signed}",
        expires_at=datetime.fromtimestamp(expires, UTC),
    )
