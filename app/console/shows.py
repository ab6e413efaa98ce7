"""The console's show pages: a show's details and its welcome item.

Every action calls the service the admin API calls; these routes only turn a form into that
service's schema and its answer into a page. Files (artwork, the welcome recording) are not
posted here: the page's script sends them to the admin API itself (with the session cookie and
the CSRF header), whose middleware authenticates them before reading a byte of the body, and
which shows the upload's real progress."""

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel, ValidationError

from app.console.deps import EDITOR_FORM, READER
from app.console.forms import SAVED_FILES, form_values, problems
from app.console.pages import redirect, render
from app.core.db.session import SessionDep
from app.core.deps import ClockDep, UrlsDep
from app.core.errors import Conflict, InvalidInput, NotFound
from app.models import Show, Welcome
from app.shows import service as shows
from app.shows.deps import ShowDep
from app.shows.schemas import (
    APPLE_CATEGORIES,
    DEFAULT_CATEGORY,
    WELCOME_PAGE_LINK,
    ShowCreate,
    ShowUpdate,
    WelcomeIn,
)
from app.storage import StorageDep

router = APIRouter(prefix="/console", include_in_schema=False)

# The category picker's value for a subcategory: "News/Tech News" (no Apple name has a "/").
SUBCATEGORY_SEPARATOR = "/"


class ShowForm(BaseModel):
    """The show form as posted: every field a string (or a checkbox), checked by ShowUpdate,
    so that one left out is a problem shown on the form, not an error page."""

    # The same names as ShowOut's (shows/schemas.py): both are a show's fields, these as the
    # browser posts them (text), those as the API answers; form_values() and update() rely on it.
    title: str = ""
    description: str = ""
    author: str = ""
    owner_name: str = ""
    owner_email: str = ""
    language: str = ""
    category: str = ""
    explicit: bool = False
    link: str = ""
    subscribe_url: str = ""
    itunes_type: str = ""
    feed_limit: str = ""
    personal_title: bool = False

    @classmethod
    def of(cls, show: Show) -> "ShowForm":
        picked = show.category
        if show.subcategory:
            picked = f"{show.category}{SUBCATEGORY_SEPARATOR}{show.subcategory}"
        return cls.model_validate(form_values(show, cls) | {"category": picked})

    def _fields(self) -> dict[str, object]:
        category, _, subcategory = self.category.partition(SUBCATEGORY_SEPARATOR)
        return self.model_dump(exclude={"category"}) | {
            "link": self.link.strip() or None,
            "category": category,
            "subcategory": subcategory or None,  # a bare category clears the subcategory
            "subscribe_url": self.subscribe_url.strip() or None,
            "feed_limit": self.feed_limit.strip() or None,
        }

    def update(self, page: str) -> ShowUpdate:
        """`page`: the show's public page, its link when the field is emptied (as when a
        show is created without one)."""
        fields = self._fields()
        return ShowUpdate.model_validate(fields | {"link": fields["link"] or page})


class NewShowForm(ShowForm):
    """The new-show form: the show form's fields and the slug, which is fixed once made.
    The fields it does not show have the API's defaults."""

    slug: str = ""
    language: str = "en"
    category: str = DEFAULT_CATEGORY
    itunes_type: str = "episodic"

    def create(self) -> ShowCreate:
        return ShowCreate.model_validate(self._fields() | {"slug": self.slug.strip()})


# The slug's problem in the words of what it is for (pydantic's pattern says only "not in
# the form shown"), beside the other fields' problems of the same pass.
SLUG_PROBLEM = {
    "slug": "use lower-case letters, digits and dashes, starting with a letter or digit "
    "(like sharp-tech): it is in the show's addresses, for good."
}


def _shows_page(
    request: Request,
    session: SessionDep,
    urls: UrlsDep,
    new_show: NewShowForm | None = None,
    problems: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "shows.html",
        {
            "shows": shows.list_all(session),
            "urls": urls,
            "form": new_show or NewShowForm(),
            "categories": APPLE_CATEGORIES,
            "separator": SUBCATEGORY_SEPARATOR,
            "problems": problems or [],
        },
        status_code=status_code,
    )


@router.get("/shows", dependencies=READER)
def shows_page(request: Request, session: SessionDep, urls: UrlsDep) -> Response:
    return _shows_page(request, session, urls)


# Same shape as save_show below (the page again with the form's problems, or save and
# redirect); another form, schema and service.
@router.post("/shows", dependencies=EDITOR_FORM)
def create_show(
    request: Request,
    form: Annotated[NewShowForm, Form()],
    session: SessionDep,
    urls: UrlsDep,
) -> Response:
    """A new show; its artwork is added on its page next (by the same uploader as a change
    of artwork, which sends the file to the admin API)."""
    try:
        show = shows.create(session, urls, form.create())
    except (ValidationError, InvalidInput, Conflict) as exc:  # refused before anything was written
        status = 422 if isinstance(exc, ValidationError) else exc.status_code
        return _shows_page(request, session, urls, form, problems(exc, SLUG_PROBLEM), status)
    return redirect(
        f"/console/shows/{show.slug}#artwork",
        flash=f"{show.title} is created, with its public page and feed below. Add its "
        "artwork next, then upload its first episode.",
    )


class WelcomeForm(BaseModel):
    """The welcome item's form as posted; an empty title or notes means the default."""

    days: str = "30"
    title: str = ""
    notes: str = ""

    @classmethod
    def of(cls, welcome: Welcome | None) -> "WelcomeForm":
        if welcome is None:
            return cls()
        return cls(days=str(welcome.days), title=welcome.title or "", notes=welcome.notes or "")

    def welcome(self) -> WelcomeIn:
        return WelcomeIn.model_validate(
            {
                "days": self.days,
                "title": self.title.strip() or None,
                "notes": self.notes.strip() or None,
            }
        )


def _welcome_of(session: SessionDep, show: Show) -> Welcome | None:
    try:
        return shows.welcome(session, show)
    except NotFound:  # not set up yet: the page offers to
        return None


def _show_page(
    request: Request,
    show: Show,
    session: SessionDep,
    urls: UrlsDep,
    form: ShowForm,
    welcome_form: WelcomeForm | None = None,
    problems: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    welcome = _welcome_of(session, show)
    recording = welcome.audio_key if welcome is not None else None
    return render(
        request,
        "shows_edit.html",
        {
            "show": show,
            "form": form,
            "welcome": welcome,
            "welcome_form": welcome_form or WelcomeForm.of(welcome),
            "welcome_recorded": recording is not None,
            "welcome_audio_url": (
                urls.show_welcome_audio(show.slug, recording) if recording else urls.welcome_audio()
            ),
            "page_link": WELCOME_PAGE_LINK,
            "categories": APPLE_CATEGORIES,
            "separator": SUBCATEGORY_SEPARATOR,
            "page_url": urls.show_page(show.slug),
            "feed_url": urls.public_feed(show.slug),
            "artwork_url": urls.show_artwork(show.slug, show.artwork_key),
            "problems": problems or [],
            "saved": SAVED_FILES.get(request.query_params.get("saved", "")),
        },
        status_code=status_code,
    )


@router.get("/shows/{slug}", dependencies=READER)
def show_page(request: Request, show: ShowDep, session: SessionDep, urls: UrlsDep) -> Response:
    return _show_page(request, show, session, urls, ShowForm.of(show))


@router.post("/shows/{slug}", dependencies=EDITOR_FORM)
def save_show(
    request: Request,
    show: ShowDep,
    form: Annotated[ShowForm, Form()],
    session: SessionDep,
    urls: UrlsDep,
    clock: ClockDep,
) -> Response:
    try:
        shows.update(session, show, form.update(urls.show_page(show.slug)), now=clock())
    except (ValidationError, InvalidInput, Conflict) as exc:  # refused before anything changed
        status = 422 if isinstance(exc, ValidationError) else exc.status_code
        return _show_page(
            request, show, session, urls, form, problems=problems(exc), status_code=status
        )
    return redirect(f"/console/shows/{show.slug}", flash=f"{show.title}: saved.")


# Same shape as save_show (check the form; the page again with its problems, or save and
# redirect): two forms on one page, each with its own schema and service.
@router.post("/shows/{slug}/welcome", dependencies=EDITOR_FORM)
def save_welcome(
    request: Request,
    show: ShowDep,
    form: Annotated[WelcomeForm, Form()],
    session: SessionDep,
    urls: UrlsDep,
    clock: ClockDep,
) -> Response:
    try:
        welcome = form.welcome()
    except ValidationError as exc:
        return _show_page(request, show, session, urls, ShowForm.of(show), form, problems(exc), 422)
    saved = shows.put_welcome(session, show, welcome, now=clock())
    state = f"on for {saved.days} days" if saved.days else "off"
    return redirect(
        f"/console/shows/{show.slug}#welcome", flash=f"{show.title}: welcome item saved ({state})."
    )


@router.post("/shows/{slug}/welcome/audio/delete", dependencies=EDITOR_FORM)
def clear_welcome_audio(
    show: ShowDep, session: SessionDep, storage: StorageDep, clock: ClockDep
) -> Response:
    shows.clear_welcome_audio(session, storage, show, now=clock())
    return redirect(
        f"/console/shows/{show.slug}#welcome",
        flash=f"{show.title}: the welcome item plays the spoken default again.",
    )
