"""The console's subscriber pages: the list (search, filters, pages, CSV out and in), adding
one, and a subscriber's page (who they are, their plan or shows, feeds, listening, billing,
alerts) with its actions.

Every action calls the service the admin API calls (app/subscribers/service.py); the import
is `podpass import subscribers`'s own (app/imports/subscriber_csv.py)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from app.analytics import service as analytics
from app.billing import service as billing
from app.console import service
from app.console.deps import CONSOLE, SUPPORT, SUPPORT_FORM
from app.console.forms import named, problems
from app.console.pages import HEADERS, redirect, render
from app.core.db.session import SessionDep
from app.core.deps import ClockDep, Offset, PageLinksDep, TokensDep, UrlsDep
from app.core.errors import AppError, Conflict, InvalidInput
from app.core.tokens import FeedTokens, PageLinks
from app.core.urls import Urls
from app.imports import subscriber_csv
from app.models import AlertStatus, Subscriber, SubscriberStatus
from app.outbox import service as outbox
from app.outbox.schemas import EmailTemplate
from app.shows import service as shows
from app.subscribers import service as subscribers
from app.subscribers.deps import SubscriberDep
from app.subscribers.schemas import SubscriberCreate, SubscriberUpdate

router = APIRouter(prefix=CONSOLE, include_in_schema=False)

PER_PAGE = 50
LISTENS_SHOWN = 100
BILLING_EVENTS_SHOWN = 50
NO_SHOW = "shows: choose a plan, or at least one show."
NO_SHOW_LEFT = "shows: choose at least one (to stop their access, lapse them)."


# The list


@dataclass(frozen=True)
class Filters:
    """The list's search and filters, as its form and links carry them."""

    q: str = ""
    status: str = ""
    plan: str = ""
    show: str = ""

    def found(self, session: Session, limit: int | None, offset: int) -> list[Subscriber]:
        return list(
            subscribers.list_some(
                session,
                email=None,
                status=SubscriberStatus(self.status) if self.status else None,
                limit=limit,
                offset=offset,
                search=self.q,
                plan=self.plan or None,
                show=self.show or None,
            )
        )

    def query(self, **more: int) -> str:
        given = {name: value for name, value in vars(self).items() if value}
        return urlencode(given | {name: value for name, value in more.items() if value})


def _filters(
    q: Annotated[str, Query(max_length=320)] = "",
    status: SubscriberStatus | Literal[""] = "",
    plan: Annotated[str, Query(max_length=255)] = "",
    show: Annotated[str, Query(max_length=64)] = "",
) -> Filters:
    return Filters(q.strip(), status, plan, show)


FiltersDep = Annotated[Filters, Depends(_filters)]


@dataclass(frozen=True)
class Row:
    subscriber: Subscriber
    plan: str  # its name, "" for none
    last_poll: datetime | None


@router.get("/subscribers", dependencies=SUPPORT)
def subscriber_list(
    request: Request,
    session: SessionDep,
    filters: FiltersDep,
    offset: Offset = 0,
) -> Response:
    """A page of subscribers, with a link to the next one when there are more (one more row
    is read to know)."""
    found = filters.found(session, PER_PAGE + 1, offset)
    plans = {plan.id: plan.name for plan in billing.list_plans(session)}
    polled = analytics.last_polls(session, [s.id for s in found[:PER_PAGE]])
    rows = [Row(s, plans.get(s.plan_id or "", ""), polled.get(s.id)) for s in found[:PER_PAGE]]
    previous = filters.query(offset=max(offset - PER_PAGE, 0)) if offset else None
    following = filters.query(offset=offset + PER_PAGE) if len(found) > PER_PAGE else None
    return render(
        request,
        "subscribers.html",
        {
            "rows": rows,
            "filters": filters,
            "statuses": named(SubscriberStatus),
            "plans": plans,
            "shows": {show.slug: show.title for show in shows.list_all(session)},
            "first": offset + 1,
            "previous": None if previous is None else f"?{previous}",
            "next": None if following is None else f"?{following}",
            "export": f"{CONSOLE}/subscribers.csv?{filters.query()}",
        },
    )


@router.get("/subscribers.csv", dependencies=SUPPORT)
def export_subscribers(session: SessionDep, clock: ClockDep, filters: FiltersDep) -> Response:
    """Every subscriber the filters match, in the import's columns."""
    found = filters.found(session, None, 0)
    name = f"subscribers-{clock():%Y-%m-%d}.csv"
    return Response(
        subscriber_csv.export(found),
        media_type="text/csv; charset=utf-8",
        headers=HEADERS | {"Content-Disposition": f'attachment; filename="{name}"'},
    )


# Adding one


class NewSubscriberForm(BaseModel):
    """The "Add a subscriber" form as posted: a plan, or shows given by hand (a comp), or
    both."""

    email: str = ""
    name: str = ""
    plan: str = ""
    shows: list[str] = []

    def create(self) -> SubscriberCreate:
        if not self.plan and not self.shows:
            raise InvalidInput(NO_SHOW)
        return SubscriberCreate.model_validate(
            {
                "email": self.email,
                "name": self.name.strip() or None,
                "plan": self.plan or None,
                "shows": self.shows,
            }
        )


def _new_page(
    request: Request,
    session: Session,
    form: NewSubscriberForm,
    problems: list[str] | None = None,
) -> Response:
    return render(
        request,
        "subscriber_new.html",
        {
            "form": form,
            "plans": billing.list_plans(session),
            "shows": shows.list_all(session),
            "problems": problems or [],
        },
        status_code=422 if problems else 200,
    )


@router.get("/subscribers/new", dependencies=SUPPORT)
def new_subscriber_form(request: Request, session: SessionDep) -> Response:
    return _new_page(request, session, NewSubscriberForm())


# Same shape as create_show in console/shows.py (the page again with the form's problems,
# or save and redirect): another form, schema and service.
@router.post("/subscribers", dependencies=SUPPORT_FORM)
def add_subscriber(
    request: Request,
    form: Annotated[NewSubscriberForm, Form()],
    session: SessionDep,
    clock: ClockDep,
) -> Response:
    try:
        subscriber = subscribers.create(session, form.create(), now=clock())
    except (ValidationError, AppError) as refused:  # refused before anything was written
        return _new_page(request, session, form, problems(refused))
    return redirect(
        _page_of(subscriber.id),
        flash=f"{subscriber.email} is added, with their welcome email (the Outbox page shows "
        "it): their feed URLs are below.",
    )


# Importing a CSV file


def _import_page(request: Request, refused: subscriber_csv.ImportRefused | None = None) -> Response:
    return render(
        request,
        "subscriber_import.html",
        {
            "problems": refused.problems if refused else [],
            "not_csv": isinstance(refused, subscriber_csv.NotCsv),
        },
        status_code=422 if refused else 200,
    )


# Same shape as the password form in console/router.py (a form page, and its post that
# shows the page again with its problems): another form, with a file.
@router.get("/subscribers/import", dependencies=SUPPORT)
def import_form(request: Request) -> Response:
    return _import_page(request)


@router.post("/subscribers/import", dependencies=SUPPORT_FORM)
def import_file(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    file: Annotated[UploadFile, File()],
    welcome: Annotated[bool, Form()] = False,
) -> Response:
    """`podpass import subscribers`, from the browser: every line is checked first, and a
    file with any problem imports nothing."""
    try:
        text = subscriber_csv.text_of(file.file.read())  # as the command reads it
        result = subscriber_csv.import_subscribers(session, text, welcome=welcome, now=clock())
    except subscriber_csv.ImportRefused as refused:
        return _import_page(request, refused)
    return redirect(
        f"{CONSOLE}/subscribers",
        flash=f"Imported: {result.created} subscriber(s) created, {result.updated} updated, "
        f"{result.old_urls} old feed URL(s) added.",
    )


# A subscriber's page


def _page_of(subscriber_id: int) -> str:
    return f"{CONSOLE}/subscribers/{subscriber_id}"


@dataclass(frozen=True)
class SubscriberPage:
    """A subscriber's page, as it is, or with a form that was refused: what it had in it
    (`typed`) and its problems, beside it."""

    request: Request
    session: Session
    subscriber: Subscriber
    tokens: FeedTokens
    urls: Urls
    links: PageLinks
    now: datetime

    def render(self) -> Response:
        return self._render({}, None)

    def refused(self, form: str, problems: list[str], **typed: object) -> Response:
        return self._render(typed, (form, problems))

    def _render(self, typed: dict[str, object], refused: tuple[str, list[str]] | None) -> Response:
        session, subscriber = self.session, self.subscriber
        plans = billing.list_plans(session)
        shown = {
            "email": subscriber.email,
            "name": subscriber.name or "",
            "shows": [feed.show.slug for feed in subscriber.feeds if feed.entitled],
            "plan": subscriber.plan_id or "",
        }
        return render(
            self.request,
            "subscriber.html",
            {
                "subscriber": subscriber,
                "revoked": subscriber.status == SubscriberStatus.REVOKED,
                "plan": next((plan for plan in plans if plan.id == subscriber.plan_id), None),
                "plans": plans,
                "shows": shows.list_all(session),
                "typed": shown | typed,
                "problems": {refused[0]: refused[1]} if refused else {},
                "feeds": [
                    (feed, self.urls.feed(self.tokens.token_for(feed.token_id)))
                    for feed in subscriber.feeds
                ],
                "activity": service.activity(session, subscriber, self.now.date()),
                "listening": analytics.listening(session, subscriber.id, LISTENS_SHOWN),
                "listens_shown": LISTENS_SHOWN,
                "billing_events": billing.recent_events(
                    session, limit=BILLING_EVENTS_SHOWN, subscriber_id=subscriber.id
                ),
                "billing_events_shown": BILLING_EVENTS_SHOWN,
                "alerts": service.alerts(session, list(AlertStatus), subscriber.id),
                "page_link": subscribers.page_link(self.links, self.urls, subscriber.id),
            },
            status_code=422 if refused else 200,
        )


def _subscriber_page(
    request: Request,
    subscriber: SubscriberDep,
    session: SessionDep,
    clock: ClockDep,
    tokens: TokensDep,
    urls: UrlsDep,
    links: PageLinksDep,
) -> SubscriberPage:
    return SubscriberPage(request, session, subscriber, tokens, urls, links, clock())


SubscriberPageDep = Annotated[SubscriberPage, Depends(_subscriber_page)]


@router.get("/subscribers/{subscriber_id}", dependencies=SUPPORT)
def subscriber_detail(page: SubscriberPageDep) -> Response:
    return page.render()


@router.post("/subscribers/{subscriber_id}/details", dependencies=SUPPORT_FORM)
def edit_details(
    page: SubscriberPageDep,
    subscriber: SubscriberDep,
    session: SessionDep,
    clock: ClockDep,
    email: Annotated[str, Form(max_length=320)] = "",
    name: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    try:
        change = SubscriberUpdate.model_validate({"email": email, "name": name.strip() or None})
        subscribers.update(session, subscriber, change, now=clock())
    except (ValidationError, InvalidInput, Conflict) as refused:  # before anything changed
        return page.refused("details", problems(refused), email=email, name=name)
    return redirect(_page_of(subscriber.id), flash="Saved: their email and name.")


@router.post("/subscribers/{subscriber_id}/shows", dependencies=SUPPORT_FORM)
def change_shows(
    page: SubscriberPageDep,
    subscriber: SubscriberDep,
    session: SessionDep,
    clock: ClockDep,
    chosen: Annotated[list[str], Form(alias="shows")] = [],  # noqa: B006 (FastAPI copies it)
) -> Response:
    if not chosen:
        return page.refused("shows", [NO_SHOW_LEFT], shows=[])
    subscribers.set_shows(session, subscriber, chosen, now=clock())
    return redirect(_page_of(subscriber.id), flash=f"Their shows are now: {_given(subscriber)}.")


@router.post("/subscribers/{subscriber_id}/plan", dependencies=SUPPORT_FORM)
def change_plan(
    subscriber: SubscriberDep,
    session: SessionDep,
    clock: ClockDep,
    plan: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    subscribers.set_plan(session, subscriber, plan or None, now=clock())
    if subscriber.plan_id is None:
        return redirect(_page_of(subscriber.id), flash="No plan now: their shows stay as they are.")
    return redirect(
        _page_of(subscriber.id),
        flash=f"Plan {subscriber.plan_id}: their shows are now {_given(subscriber)}.",
    )


def _given(subscriber: Subscriber) -> str:
    return ", ".join(feed.show.title for feed in subscriber.feeds if feed.entitled)


@router.post("/subscribers/{subscriber_id}/send-links", dependencies=SUPPORT_FORM)
def send_links(subscriber: SubscriberDep, session: SessionDep, clock: ClockDep) -> Response:
    """Their page link, by the server's email (the one "email me my links" sends), so that
    it goes from the publisher's address and shows in the outbox."""
    if subscriber.status == SubscriberStatus.REVOKED:
        raise Conflict(f"{subscriber.email} is revoked: reinstate them before sending links.")
    outbox.email(
        session, EmailTemplate.LINKS, subscriber_id=subscriber.id, to=subscriber.email, now=clock()
    )
    return redirect(
        _page_of(subscriber.id),
        flash=f"Their page link is on its way to {subscriber.email} (the Outbox page shows it).",
    )


@router.post("/subscribers/{subscriber_id}/lapse", dependencies=SUPPORT_FORM)
def lapse(subscriber: SubscriberDep, session: SessionDep, clock: ClockDep) -> Response:
    subscribers.set_status(session, subscriber, SubscriberStatus.LAPSED, now=clock())
    return redirect(
        _page_of(subscriber.id),
        flash="Lapsed: their feeds now show a renewal notice; the same URLs work again when "
        "they are reinstated.",
    )


@router.post("/subscribers/{subscriber_id}/reinstate", dependencies=SUPPORT_FORM)
def reinstate(subscriber: SubscriberDep, session: SessionDep, clock: ClockDep) -> Response:
    was_revoked = subscriber.status == SubscriberStatus.REVOKED
    subscribers.set_status(session, subscriber, SubscriberStatus.ACTIVE, now=clock())
    note = " They have new feed URLs: send them their page link." if was_revoked else ""
    return redirect(_page_of(subscriber.id), flash=f"Reinstated.{note}")


@router.post("/subscribers/{subscriber_id}/revoke", dependencies=SUPPORT_FORM)
def revoke(subscriber: SubscriberDep, session: SessionDep, clock: ClockDep) -> Response:
    subscribers.set_status(session, subscriber, SubscriberStatus.REVOKED, now=clock())
    return redirect(_page_of(subscriber.id), flash="Revoked: their feed URLs answer 410 for good.")


# One action, one route, each the shape of the show page's (console/shows.py): a service
# call and a redirect with what it did; the services are what they share.
@router.post("/subscribers/{subscriber_id}/shows/{slug}/rotate", dependencies=SUPPORT_FORM)
def rotate_feed(
    subscriber: SubscriberDep, slug: str, session: SessionDep, clock: ClockDep
) -> Response:
    subscribers.rotate(session, subscriber, slug, now=clock())
    return redirect(
        _page_of(subscriber.id),
        flash="New feed URL made; the old one stopped working. They are emailed their page "
        "link, which has the new one.",
    )
