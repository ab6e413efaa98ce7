from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.accounts.deps import require
from app.accounts.service import Permission
from app.core.db.session import SessionDep
from app.core.deps import ClockDep, Limit, Offset, PageLinksDep, TokensDep, UrlsDep
from app.core.tokens import FeedTokens
from app.core.urls import Urls
from app.models import Subscriber, SubscriberStatus
from app.subscribers import service
from app.subscribers.deps import SubscriberDep
from app.subscribers.schemas import (
    EntitlementsUpdate,
    FeedOut,
    PageLink,
    PlanUpdate,
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


@dataclass(frozen=True)
class Presenter:
    """Subscribers in their API form, with their personal feed URLs."""

    tokens: FeedTokens
    urls: Urls

    def __call__(self, subscriber: Subscriber) -> SubscriberOut:
        return SubscriberOut(
            **dict(SubscriberFields.model_validate(subscriber)),
            feeds=[
                FeedOut(
                    show=f.show.slug,
                    title=f.show.title,
                    entitled=f.entitled,
                    feed_url=self.urls.feed(self.tokens.token_for(f.token_id)),
                )
                for f in subscriber.feeds
            ],
        )


async def _presenter(tokens: TokensDep, urls: UrlsDep) -> Presenter:
    return Presenter(tokens, urls)  # async: no thread hop for what costs nothing


PresentDep = Annotated[Presenter, Depends(_presenter)]


@router.post("", status_code=201)
def create_subscriber(
    data: SubscriberCreate, session: SessionDep, present: PresentDep, clock: ClockDep
) -> SubscriberOut:
    return present(service.create(session, data, now=clock()))


@router.get("")
def list_subscribers(
    session: SessionDep,
    present: PresentDep,
    email: str | None = None,
    status: SubscriberStatus | None = None,
    external_id: Annotated[str | None, Query(description="The billing customer id.")] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=320,
            description="Part of the email or name (any case), or a whole billing customer id.",
        ),
    ] = None,
    plan: Annotated[str | None, Query(description="A plan's id.")] = None,
    show: Annotated[str | None, Query(description="A show's slug they are entitled to.")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[SubscriberOut]:
    found = service.list_some(
        session,
        email=email,
        status=status,
        limit=limit,
        offset=offset,
        external_id=external_id,
        search=q,
        plan=plan,
        show=show,
    )
    return [present(s) for s in found]


@router.get("/{subscriber_id}")
def read_subscriber(subscriber: SubscriberDep, present: PresentDep) -> SubscriberOut:
    return present(subscriber)


@router.patch("/{subscriber_id}", summary="Correct a subscriber's email, name or billing id")
def update_subscriber(
    subscriber: SubscriberDep,
    data: SubscriberUpdate,
    session: SessionDep,
    present: PresentDep,
    clock: ClockDep,
) -> SubscriberOut:
    return present(service.update(session, subscriber, data, now=clock()))


@router.put("/{subscriber_id}/shows")
def set_entitlements(
    subscriber: SubscriberDep,
    data: EntitlementsUpdate,
    session: SessionDep,
    present: PresentDep,
    clock: ClockDep,
) -> SubscriberOut:
    return present(service.set_shows(session, subscriber, data.shows, now=clock()))


@router.put("/{subscriber_id}/plan")
def set_plan(
    subscriber: SubscriberDep,
    data: PlanUpdate,
    session: SessionDep,
    present: PresentDep,
    clock: ClockDep,
) -> SubscriberOut:
    """Give them a plan's shows (only those) and its back catalogue; null: no plan, their
    shows kept, given by hand."""
    return present(service.set_plan(session, subscriber, data.plan, now=clock()))


def _status_change(
    subscriber: SubscriberDep, session: SessionDep, present: PresentDep, clock: ClockDep
) -> Callable[[SubscriberStatus], SubscriberOut]:
    """Lapse, reinstate and revoke: three paths, three routes (STYLE 15), one change."""
    return lambda status: present(service.set_status(session, subscriber, status, now=clock()))


StatusChange = Annotated[Callable[[SubscriberStatus], SubscriberOut], Depends(_status_change)]


@router.post("/{subscriber_id}/lapse", summary="Lapse a subscriber")
def lapse(change: StatusChange) -> SubscriberOut:
    """Their feeds show a "renew" notice; the same URLs work again on renewal."""
    return change(SubscriberStatus.LAPSED)


@router.post("/{subscriber_id}/reinstate", summary="Reinstate a subscriber")
def reinstate(change: StatusChange) -> SubscriberOut:
    return change(SubscriberStatus.ACTIVE)


@router.post("/{subscriber_id}/revoke", summary="Revoke a subscriber")
def revoke(change: StatusChange) -> SubscriberOut:
    """Their feeds and audio answer 410 for good."""
    return change(SubscriberStatus.REVOKED)


@router.post("/{subscriber_id}/shows/{slug}/rotate")
def rotate_feed(
    subscriber: SubscriberDep, slug: str, session: SessionDep, present: PresentDep, clock: ClockDep
) -> SubscriberOut:
    """Give the subscriber a new URL for one show; the old one stops working at once."""
    return present(service.rotate(session, subscriber, slug, now=clock()))


@router.post("/{subscriber_id}/page-link")
def mint_page_link(subscriber: SubscriberDep, links: PageLinksDep, urls: UrlsDep) -> PageLink:
    """A signed link to the subscriber's own page (feeds, app buttons, URL reset), to email
    them. It expires after PODPASS_PAGE_LINK_DAYS."""
    return service.page_link(links, urls, subscriber.id)
