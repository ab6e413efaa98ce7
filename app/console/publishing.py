"""The console's publishing pages: shows, episodes and plans.

Every action calls the service the admin API calls; these routes only turn a form into that
service's schema and its answer into a page. Files (audio, artwork, chapters, transcripts)
are not posted here: the pages' script sends them to the admin API itself (with the session
cookie and the CSRF header), whose middleware authenticates them before reading a byte of
the body, and which shows the upload's real progress."""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request, Response
from pydantic import BaseModel, TypeAdapter, ValidationError

from app.billing import service as billing
from app.billing.schemas import BackCatalogueRule, LatestEpisodes, PlanId, PlanIn, SinceJoining
from app.console.deps import EDITOR, EDITOR_FORM, SUPPORT, SUPPORT_FORM
from app.console.pages import redirect, render
from app.core.db.session import SessionDep
from app.core.deps import ClockDep, SettingsDep, UrlsDep
from app.core.errors import InvalidInput, NotFound
from app.episodes import service as episodes
from app.episodes.deps import EpisodeDep
from app.episodes.schemas import EpisodeUpdate, PublishRequest
from app.media.files import FilesDep
from app.models import Episode, EpisodeKind, EpisodeStatus, EpisodeType, Plan, Show, Welcome
from app.shows import service as shows
from app.shows.deps import ShowDep
from app.shows.schemas import APPLE_CATEGORIES, WELCOME_PAGE_LINK, ShowUpdate, WelcomeIn
from app.storage import StorageDep
from app.text import when

router = APIRouter(prefix="/console", include_in_schema=False)

# The category picker's value for a subcategory: "News/Tech News" (no Apple name has a "/").
SUBCATEGORY_SEPARATOR = "/"
# What the page says after its script saved a file through the admin API (a fixed list:
# the query string never puts text of its own on the page).
SAVED_FILES = {
    "artwork": "New artwork saved: it passed the size check (JPEG or PNG, square, "
    "1400 to 3000 px).",
    "chapters": "Chapters saved.",
    "transcript": "Transcript saved.",
    "welcome-audio": "Welcome recording saved: it passed the same checks as an episode.",
}
_PLAN_ID: TypeAdapter[str] = TypeAdapter(PlanId)
_BACK_CATALOGUE: TypeAdapter[BackCatalogueRule] = TypeAdapter(BackCatalogueRule)


@dataclass(frozen=True)
class Times:
    """Times as the publisher reads and types them: in PODPASS_TIMEZONE."""

    zone: ZoneInfo
    now: datetime

    def field(self, moment: datetime | None) -> str:
        """The value of a datetime-local input."""
        return moment.astimezone(self.zone).strftime("%Y-%m-%dT%H:%M") if moment else ""

    def read(self, value: str) -> datetime:
        """A datetime-local input's value, in the publisher's time zone."""
        try:
            naive = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{value!r} is not a date and time.") from None
        moment = naive.replace(tzinfo=self.zone)  # a time that happens twice: the first
        if moment.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != naive:
            raise InvalidInput(
                f"{value} does not exist in {self.zone.key}: the clocks go forward then. "
                "Choose a time after the change."
            )
        return moment

    def state(self, episode: Episode) -> str:
        if episode.status != EpisodeStatus.PUBLISHED:
            return "draft"
        assert episode.published_at is not None  # publishing sets it
        return "scheduled" if episode.published_at > self.now else "published"


def _times(settings: SettingsDep, clock: ClockDep) -> Times:
    return Times(settings.timezone, clock())


TimesDep = Annotated[Times, Depends(_times)]


def duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02}:{rest % 60:02}" if hours else f"{rest // 60}:{rest % 60:02}"


def _problems(exc: ValidationError | InvalidInput) -> list[str]:
    """One line per field. A field that may be left out but not null fails both halves of
    its union: the first error is the one that explains."""
    if isinstance(exc, InvalidInput):
        return [exc.detail]
    found: dict[str, str] = {}
    for error in exc.errors():
        found.setdefault(str(error["loc"][0]) if error["loc"] else "form", error["msg"])
    return [f"{field}: {message}" for field, message in found.items()]


# Shows.


class ShowForm(BaseModel):
    """The show form as posted: every field a string (or a checkbox), checked by ShowUpdate."""

    title: str
    description: str
    author: str
    owner_name: str
    owner_email: str
    language: str
    category: str
    explicit: bool = False
    link: str
    subscribe_url: str = ""
    itunes_type: str
    feed_limit: str = ""
    personal_title: bool = False

    @classmethod
    def of(cls, show: Show) -> "ShowForm":
        picked = show.category
        if show.subcategory:
            picked = f"{show.category}{SUBCATEGORY_SEPARATOR}{show.subcategory}"
        return cls(
            title=show.title,
            description=show.description,
            author=show.author,
            owner_name=show.owner_name,
            owner_email=show.owner_email,
            language=show.language,
            category=picked,
            explicit=show.explicit,
            link=show.link,
            subscribe_url=show.subscribe_url or "",
            itunes_type=show.itunes_type,
            feed_limit=str(show.feed_limit or ""),
            personal_title=show.personal_title,
        )

    def update(self) -> ShowUpdate:
        category, _, subcategory = self.category.partition(SUBCATEGORY_SEPARATOR)
        fields = self.model_dump(exclude={"category"})
        return ShowUpdate.model_validate(
            fields
            | {
                "category": category,
                "subcategory": subcategory or None,  # a bare category clears the subcategory
                "subscribe_url": self.subscribe_url.strip() or None,
                "feed_limit": self.feed_limit.strip() or None,
            }
        )


@router.get("/shows", dependencies=EDITOR)
def shows_page(request: Request, session: SessionDep, urls: UrlsDep) -> Response:
    listed = shows.list_all(session)
    return render(request, "shows.html", {"shows": listed, "urls": urls})


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


@router.get("/shows/{slug}", dependencies=EDITOR)
def show_page(request: Request, show: ShowDep, session: SessionDep, urls: UrlsDep) -> Response:
    return _show_page(request, show, session, urls, ShowForm.of(show))


@router.post("/shows/{slug}", dependencies=EDITOR_FORM)
def save_show(
    request: Request,
    show: ShowDep,
    form: Annotated[ShowForm, Form()],
    session: SessionDep,
    urls: UrlsDep,
) -> Response:
    try:
        update = form.update()
    except ValidationError as exc:
        return _show_page(
            request, show, session, urls, form, problems=_problems(exc), status_code=422
        )
    shows.update(session, show, update)
    return redirect(f"/console/shows/{show.slug}", flash=f"{show.title}: saved.")


@router.post("/shows/{slug}/welcome", dependencies=EDITOR_FORM)
def save_welcome(
    request: Request,
    show: ShowDep,
    form: Annotated[WelcomeForm, Form()],
    session: SessionDep,
    urls: UrlsDep,
) -> Response:
    try:
        welcome = form.welcome()
    except ValidationError as exc:
        return _show_page(
            request, show, session, urls, ShowForm.of(show), form, _problems(exc), 422
        )
    saved = shows.put_welcome(session, show, welcome)
    state = f"on for {saved.days} days" if saved.days else "off"
    return redirect(
        f"/console/shows/{show.slug}#welcome", flash=f"{show.title}: welcome item saved ({state})."
    )


@router.post("/shows/{slug}/welcome/audio/delete", dependencies=EDITOR_FORM)
def clear_welcome_audio(show: ShowDep, session: SessionDep, storage: StorageDep) -> Response:
    shows.clear_welcome_audio(session, storage, show)
    return redirect(
        f"/console/shows/{show.slug}#welcome",
        flash=f"{show.title}: the welcome item plays the spoken default again.",
    )


# Episodes.


@router.get("/shows/{slug}/episodes", dependencies=EDITOR)
def episodes_page(
    request: Request, show: ShowDep, session: SessionDep, settings: SettingsDep, times: TimesDep
) -> Response:
    return render(
        request,
        "episodes.html",
        {
            "show": show,
            "episodes": episodes.list_for_show(session, show),
            "times": times,
            "duration": duration,
            "max_upload_mb": settings.max_upload_mb,
        },
    )


class EpisodeForm(BaseModel):
    """The episode form as posted; empty fields are left as they are (as in the API)."""

    title: str = ""
    show_notes: str = ""
    kind: str = EpisodeKind.EPISODE
    article_url: str = ""
    article_text: str = ""
    episode_type: str = EpisodeType.FULL
    season: str = ""
    number: str = ""
    explicit: bool = False
    free: bool = False

    @classmethod
    def of(cls, episode: Episode) -> "EpisodeForm":
        return cls(
            title=episode.title,
            show_notes=episode.show_notes,
            kind=episode.kind,
            article_url=episode.article_url or "",
            article_text=episode.article_text or "",
            episode_type=episode.episode_type,
            season=str(episode.season or ""),
            number=str(episode.number or ""),
            explicit=episode.explicit,
            free=episode.free,
        )

    def update(self) -> EpisodeUpdate:
        given = {
            name: value
            for name, value in self.model_dump().items()
            if not (isinstance(value, str) and not value.strip())
        }
        return EpisodeUpdate.model_validate(given)


def _episode_page(
    request: Request,
    episode: Episode,
    session: SessionDep,
    times: Times,
    form: EpisodeForm | None = None,
    problems: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    artwork = episode.artwork_key
    return render(
        request,
        "episode.html",
        {
            "episode": episode,
            "show": session.get_one(Show, episode.show_id),
            "form": form or EpisodeForm.of(episode),
            "times": times,
            "duration": duration,
            "chapters": (episode.chapters or {}).get("chapters", []),
            "artwork_url": (
                f"/console/episodes/{episode.id}/artwork{PurePosixPath(artwork).suffix}"
                if artwork
                else None
            ),
            "kinds": list(EpisodeKind),
            "types": list(EpisodeType),
            "problems": problems or [],
            "saved": SAVED_FILES.get(request.query_params.get("saved", "")),
            "uploaded": request.query_params.get("uploaded") == "1",
        },
        status_code=status_code,
    )


@router.get("/episodes/{episode_id}", dependencies=EDITOR)
def episode_page(
    request: Request,
    episode: EpisodeDep,
    session: SessionDep,
    times: TimesDep,
) -> Response:
    return _episode_page(request, episode, session, times)


@router.post("/episodes/{episode_id}", dependencies=EDITOR_FORM)
def save_episode(
    request: Request,
    episode: EpisodeDep,
    form: Annotated[EpisodeForm, Form()],
    session: SessionDep,
    times: TimesDep,
) -> Response:
    try:
        update = form.update()
    except ValidationError as exc:
        return _episode_page(request, episode, session, times, form, _problems(exc), 422)
    episodes.update(session, episode, update)
    return redirect(f"/console/episodes/{episode.id}", flash=f"{episode.title}: saved.")


@router.post("/episodes/{episode_id}/publish", dependencies=EDITOR_FORM)
def publish_episode(
    request: Request,
    episode: EpisodeDep,
    session: SessionDep,
    times: TimesDep,
    clock: ClockDep,
    published_at: Annotated[str, Form()] = "",
) -> Response:
    """Publish now, or at the time given in the publisher's time zone (a future time
    schedules the episode)."""
    try:
        at = times.read(published_at) if published_at.strip() else None
    except InvalidInput as exc:
        return _episode_page(
            request, episode, session, times, problems=_problems(exc), status_code=422
        )
    episodes.publish(session, episode, PublishRequest(published_at=at), now=clock())
    after = Times(times.zone, clock())  # "now" has moved on since the form was read
    at_time = when(episode.published_at, times.zone)
    scheduled = after.state(episode) == "scheduled"
    message = f"Scheduled for {at_time}." if scheduled else f"Published ({at_time})."
    return redirect(f"/console/episodes/{episode.id}", flash=f"{episode.title}: {message}")


@router.post("/episodes/{episode_id}/unpublish", dependencies=EDITOR_FORM)
def unpublish_episode(episode: EpisodeDep, session: SessionDep) -> Response:
    episodes.unpublish(session, episode)
    return redirect(
        f"/console/episodes/{episode.id}",
        flash=f"{episode.title}: taken down; it is a draft again.",
    )


@router.get("/episodes/{episode_id}/artwork.{extension}", dependencies=EDITOR)
def episode_artwork(episode: EpisodeDep, extension: str, files: FilesDep) -> Response:
    """The episode's artwork (read from its file, or uploaded), whether published or not."""
    return files.artwork(episode.artwork_key, extension, private=True)


# Plans.


class PlanForm(BaseModel):
    """A plan as posted. The back-catalogue rule comes with the number its choice needs
    (the other stays empty); a form without a rule keeps the plan's, as the API does."""

    plan_id: str
    name: str = ""
    shows: list[str] = []
    back_catalogue: str = ""
    episodes: str = ""
    days_before: str = ""

    @classmethod
    def of(cls, plan: Plan) -> "PlanForm":
        rule = billing.back_catalogue_of(plan)
        return cls(
            plan_id=plan.id,
            name=plan.name,
            shows=[show.slug for show in plan.shows],
            back_catalogue=rule.rule,
            episodes=str(rule.episodes) if isinstance(rule, LatestEpisodes) else "",
            days_before=str(rule.days_before) if isinstance(rule, SinceJoining) else "",
        )

    def plan(self) -> tuple[str, PlanIn]:
        return _PLAN_ID.validate_python(self.plan_id), PlanIn(
            name=self.name, shows=self.shows, back_catalogue=self._rule()
        )

    def _rule(self) -> BackCatalogueRule | None:
        if not self.back_catalogue:
            return None
        numbers = {"episodes": self.episodes.strip(), "days_before": self.days_before.strip()}
        given = {name: value for name, value in numbers.items() if value}
        try:
            return _BACK_CATALOGUE.validate_python({"rule": self.back_catalogue} | given)
        except ValidationError as exc:  # its path names the rule's variant: say the field
            error = exc.errors()[0]
            field = error["loc"][-1] if error["loc"] else "rule"
            raise InvalidInput(f"back catalogue, {field}: {error['msg']}") from None


def _plans_page(
    request: Request,
    session: SessionDep,
    problems: list[str] | None = None,
    status_code: int = 200,
    form: PlanForm | None = None,
) -> Response:
    plans = {plan.id: PlanForm.of(plan) for plan in billing.list_plans(session)}
    if form is not None and form.plan_id in plans:
        plans[form.plan_id], form = form, None  # what was typed stays in that plan's form
    return render(
        request,
        "plans.html",
        {
            "plans": list(plans.values()),
            "shows": shows.list_all(session),
            "problems": problems or [],
            "new": form or PlanForm(plan_id=""),
        },
        status_code=status_code,
    )


@router.get("/plans", dependencies=SUPPORT)
def plans_page(request: Request, session: SessionDep) -> Response:
    return _plans_page(request, session)


@router.post("/plans", dependencies=SUPPORT_FORM)
def save_plan(request: Request, form: Annotated[PlanForm, Form()], session: SessionDep) -> Response:
    """Create a plan, or replace the name, shows and back catalogue of the plan with this id
    (the API's PUT)."""
    try:
        plan_id, plan = form.plan()
    except (ValidationError, InvalidInput) as exc:
        return _plans_page(request, session, _problems(exc), 422, form)
    saved = billing.put_plan(session, plan_id, plan)
    given = ", ".join(show.title for show in saved.shows) or "no shows"
    return redirect("/console/plans", flash=f"Plan {saved.name} ({saved.id}) gives: {given}.")


@router.post("/plans/{plan_id}/delete", dependencies=SUPPORT_FORM)
def delete_plan(plan_id: str, session: SessionDep) -> Response:
    billing.delete_plan(session, plan_id)
    return redirect("/console/plans", flash=f"Plan {plan_id} deleted.")
