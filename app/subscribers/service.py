from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.service import Action
from app.core.db.session import get_by_id
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.tokens import PageLinks, new_token_id
from app.core.urls import Urls
from app.models import FeedAccess, Plan, Show, Subscriber, SubscriberStatus
from app.outbox import service as outbox
from app.outbox import webhooks
from app.outbox.schemas import EmailTemplate, WebhookEvent
from app.shows import service as shows
from app.subscribers.schemas import PageLink, SubscriberCreate, SubscriberUpdate


def get(session: Session, subscriber_id: int) -> Subscriber:
    return get_by_id(session, Subscriber, subscriber_id, "subscriber")


def list_some(
    session: Session,
    *,
    email: str | None,
    status: SubscriberStatus | None,
    limit: int | None,
    offset: int,
    external_id: str | None = None,
    search: str | None = None,
    plan: str | None = None,
    show: str | None = None,
) -> Sequence[Subscriber]:
    """Subscribers in the order they came, matching every filter given: `email` and
    `external_id` whole, `search` a part of the email or name (any case) or a whole billing
    id, `plan` a plan's id, `show` a show's slug they are entitled to. `limit` None: all."""
    query = select(Subscriber).order_by(Subscriber.id).limit(limit).offset(offset)
    if email:
        query = query.where(Subscriber.email == email.strip().lower())
    if external_id:
        query = query.where(Subscriber.external_id == external_id.strip())
    if search and search.strip():
        wanted = search.strip()
        part = wanted.lower()
        query = query.where(
            or_(
                Subscriber.email.contains(part, autoescape=True),
                func.lower(Subscriber.name).contains(part, autoescape=True),
                Subscriber.external_id == wanted,
            )
        )
    if status:
        query = query.where(Subscriber.status == status)
    if plan:
        query = query.where(Subscriber.plan_id == plan)
    if show:
        query = query.where(
            select(FeedAccess.id)
            .join(Show, Show.id == FeedAccess.show_id)
            .where(
                FeedAccess.subscriber_id == Subscriber.id,
                FeedAccess.entitled,
                Show.slug == show,
            )
            .exists()
        )
    return session.scalars(query).all()


def create(
    session: Session, data: SubscriberCreate, *, now: datetime, emails: bool = True
) -> Subscriber:
    """`emails=False`: no welcome email (subscribers imported from a previous host)."""
    _ensure_free(session, email=data.email, external_id=data.external_id)
    plan = _plan(session, data.plan) if data.plan else None
    entitled = shows.get_many(session, data.shows)
    if plan is not None:
        entitled = list({show.id: show for show in (*plan.shows, *entitled)}.values())
    subscriber = Subscriber(
        email=data.email,
        name=data.name,
        external_id=data.external_id,
        status=SubscriberStatus.ACTIVE,
        plan_id=plan.id if plan else None,
    )
    session.add(subscriber)
    _entitle(subscriber, entitled, now)
    session.flush()
    audit.record(session, Action.SUBSCRIBER_CREATE, subscriber, {"shows": list(data.shows)})
    if emails:
        _email(session, subscriber, EmailTemplate.WELCOME, now)
    webhooks.notify(session, WebhookEvent.SUBSCRIBER_CREATED, subscriber.id, now=now)
    return subscriber


def update(
    session: Session, subscriber: Subscriber, data: SubscriberUpdate, *, now: datetime
) -> Subscriber:
    """Correct who a subscriber is: their email, name (personal feed titles follow at the
    next poll) or billing id. Their feed URLs stay as they are."""
    given = data.model_fields_set
    if "email" in given and data.email is None:
        raise InvalidInput("A subscriber's email cannot be removed.")
    _ensure_free(
        session,
        email=data.email if data.email != subscriber.email else None,
        external_id=data.external_id if data.external_id != subscriber.external_id else None,
    )
    if data.email is not None:
        subscriber.email = data.email
    if "external_id" in given:
        subscriber.external_id = data.external_id
    if "name" in given:
        subscriber.name = data.name
    audit.record(session, Action.SUBSCRIBER_UPDATE, subscriber, {"fields": sorted(given)})
    return _changed(session, subscriber, now)


def _ensure_free(session: Session, *, email: str | None, external_id: str | None) -> None:
    """No other subscriber has this email or billing id (None: not asked)."""
    if email and session.scalar(select(Subscriber.id).where(Subscriber.email == email)):
        raise Conflict(f"A subscriber with email {email} already exists.")
    if external_id and session.scalar(
        select(Subscriber.id).where(Subscriber.external_id == external_id)
    ):
        raise Conflict(f"A subscriber with external_id {external_id!r} already exists.")


def set_shows(
    session: Session, subscriber: Subscriber, slugs: Sequence[str], *, now: datetime
) -> Subscriber:
    before = _entitled(subscriber)
    _entitle(subscriber, shows.get_many(session, slugs), now)
    if _entitled(subscriber) != before:  # billing sets a renewing plan's shows again
        audit.record(session, Action.SUBSCRIBER_SHOWS, subscriber, {"shows": sorted(slugs)})
    return _changed(session, subscriber, now)


def set_plan(
    session: Session, subscriber: Subscriber, plan_id: str | None, *, now: datetime
) -> Subscriber:
    """Give them a plan's shows (only those) and its back catalogue, as a billing event
    does. None: no plan, and their shows stay, given by hand."""
    if plan_id is not None:
        plan = _plan(session, plan_id)
        _entitle(subscriber, plan.shows, now)
    if subscriber.plan_id != plan_id:  # the back catalogue their feeds list changes
        feeds_changed(subscriber, now=now)
        audit.record(session, Action.SUBSCRIBER_PLAN, subscriber, {"plan": plan_id})
    subscriber.plan_id = plan_id
    return _changed(session, subscriber, now)


def _plan(session: Session, plan_id: str) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise NotFound(f"No plan {plan_id!r}.", api_hint="GET /admin/plans lists them.")
    return plan


def _entitled(subscriber: Subscriber) -> set[int]:
    return {feed.show_id for feed in subscriber.feeds if feed.entitled}


def _entitle(subscriber: Subscriber, entitled: Sequence[Show], now: datetime) -> None:
    """Entitle exactly these shows. A feed that is no longer entitled keeps its URL, which
    then shows the 'inactive' notice, so re-entitling later restores the same URL."""
    wanted = {show.id: show for show in entitled}
    for feed in subscriber.feeds:
        if feed.entitled != (feed.show_id in wanted):
            feed.entitled = feed.show_id in wanted
            _access_changed(feed, now)
        wanted.pop(feed.show_id, None)
    for show in wanted.values():
        subscriber.feeds.append(FeedAccess(show=show, token_id=new_token_id(), entitled=True))


def feeds_changed(subscriber: Subscriber, *, now: datetime) -> None:
    """Something every feed of theirs shows has changed (a payment problem began or
    ended): Last-Modified moves forward."""
    for feed in subscriber.feeds:
        _access_changed(feed, now)


def _access_changed(feed: FeedAccess, now: datetime) -> None:
    """What this feed shows its holder has changed. The time moves on by at least a whole
    second, so that each lapse is a new notice (its GUID holds the second) even when a
    renewal and another lapse follow within one; the feed's Last-Modified never shows it
    ahead of the clock (feeds/documents.py)."""
    previous = feed.changed_at or feed.created_at or now
    feed.changed_at = max(now, previous.replace(microsecond=0) + timedelta(seconds=1))


def set_status(
    session: Session,
    subscriber: Subscriber,
    status: SubscriberStatus,
    *,
    now: datetime,
    emails: bool = True,
) -> Subscriber:
    """`emails=False`: the subscriber hears nothing of it (an import from a previous host)."""
    if subscriber.status == SubscriberStatus.REVOKED and status is not SubscriberStatus.REVOKED:
        # Revoked URLs must never work again (they answer 410 so apps stop polling), so a
        # subscriber brought back from revocation gets new ones.
        for feed in subscriber.feeds:
            _rotate(feed, now)
    if subscriber.status != status:  # every feed changes; each lapse is a new notice
        for feed in subscriber.feeds:
            _access_changed(feed, now)
    template = _STATUS_EMAILS.get((SubscriberStatus(subscriber.status), status))
    changed = subscriber.status != status
    subscriber.status = status
    if template and emails:
        _email(session, subscriber, template, now)
    if changed:
        webhooks.notify(session, _STATUS_EVENTS[status], subscriber.id, now=now)
        audit.record(session, _STATUS_ACTIONS[status], subscriber)
    return _changed(session, subscriber, now)


# Which status changes the subscriber hears about. A revocation is not announced.
_STATUS_EMAILS = {
    (SubscriberStatus.ACTIVE, SubscriberStatus.LAPSED): EmailTemplate.LAPSED,
    (SubscriberStatus.LAPSED, SubscriberStatus.ACTIVE): EmailTemplate.RENEWED,
    (SubscriberStatus.REVOKED, SubscriberStatus.ACTIVE): EmailTemplate.RENEWED,
}


_STATUS_ACTIONS = {
    SubscriberStatus.ACTIVE: Action.SUBSCRIBER_REINSTATE,
    SubscriberStatus.LAPSED: Action.SUBSCRIBER_LAPSE,
    SubscriberStatus.REVOKED: Action.SUBSCRIBER_REVOKE,
}


_STATUS_EVENTS = {
    SubscriberStatus.ACTIVE: WebhookEvent.SUBSCRIBER_RENEWED,
    SubscriberStatus.LAPSED: WebhookEvent.SUBSCRIBER_LAPSED,
    SubscriberStatus.REVOKED: WebhookEvent.SUBSCRIBER_REVOKED,
}


def rotate(session: Session, subscriber: Subscriber, slug: str, *, now: datetime) -> Subscriber:
    show = shows.get(session, slug)
    feed = next((f for f in subscriber.feeds if f.show_id == show.id), None)
    if feed is None:
        raise NotFound(f"Subscriber {subscriber.id} has no feed for {slug!r}.")
    _rotate(feed, now)
    audit.record(session, Action.SUBSCRIBER_ROTATE, subscriber, {"show": slug})
    _email(session, subscriber, EmailTemplate.URL_RESET, now, show=slug)
    return _changed(session, subscriber, now)


def _email(
    session: Session, subscriber: Subscriber, template: EmailTemplate, now: datetime, **data: str
) -> None:
    """Queue one of the subscriber's emails; it says what it says as it goes out
    (subscribers/emails.py)."""
    outbox.email(
        session, template, subscriber_id=subscriber.id, to=subscriber.email, now=now, **data
    )


def _rotate(feed: FeedAccess, now: datetime) -> None:
    feed.token_id = new_token_id()
    feed.rotated_at = now


def _changed(session: Session, subscriber: Subscriber, now: datetime) -> Subscriber:
    subscriber.updated_at = now
    session.flush()
    return subscriber


def page_link(links: PageLinks, urls: Urls, subscriber_id: int) -> PageLink:
    """A signed, expiring link to the subscriber's own page."""
    signed, expires = links.make(subscriber_id)
    return PageLink(
        url=urls.subscriber_page(signed), expires_at=datetime.fromtimestamp(expires, UTC)
    )
