"""The console's episode pages: a show's episodes, and one episode's details, publication and
artwork. Audio, artwork, chapters and transcripts go to the admin API from the page's script,
as on the show pages (app/console/shows.py)."""

from pathlib import PurePosixPath
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from pydantic import BaseModel, ValidationError

from app.console.deps import EDITOR_FORM, READER
from app.console.forms import SAVED_FILES, Times, TimesDep, duration, form_values, named, problems
from app.console.pages import redirect, render
from app.core.db.session import SessionDep
from app.core.deps import ClockDep, Offset, SettingsDep
from app.core.errors import InvalidInput
from app.episodes import service as episodes
from app.episodes.deps import EpisodeDep
from app.episodes.schemas import EpisodeUpdate, PublishRequest
from app.episodes.service import EpisodeState
from app.media.files import Audio, FilesDep
from app.models import Episode, EpisodeKind, EpisodeType, Show
from app.shows.deps import ShowDep
from app.storage import StorageDep
from app.text import when

router = APIRouter(prefix="/console", include_in_schema=False)

EPISODES_PER_PAGE = 50


@router.get("/shows/{slug}/episodes", dependencies=READER)
def episodes_page(
    request: Request,
    show: ShowDep,
    session: SessionDep,
    settings: SettingsDep,
    times: TimesDep,
    q: Annotated[str, Query(max_length=500)] = "",
    state: EpisodeState | Literal[""] = "",
    kind: EpisodeKind | Literal[""] = "",
    offset: Offset = 0,
) -> Response:
    """The show's episodes, drafts first then the newest, a page at a time: those whose title
    holds `q`, in a state, of a kind."""
    found = episodes.search(
        session,
        show,
        title=q,
        state=EpisodeState(state) if state else None,
        kind=EpisodeKind(kind) if kind else None,
        now=times.now,
        limit=EPISODES_PER_PAGE + 1,  # one more: is there a next page?
        offset=offset,
    )
    asked = {"q": q, "state": state, "kind": kind}
    return render(
        request,
        "episodes.html",
        {
            "show": show,
            "episodes": found[:EPISODES_PER_PAGE],
            "times": times,
            "duration": duration,
            "max_upload_mb": settings.max_upload_mb,
            "asked": asked,
            "filtered": any(asked.values()),
            "states": named(EpisodeState),
            "kinds": {EpisodeKind.EPISODE: "Episode", EpisodeKind.ARTICLE: "Article narration"},
            "earlier": _page(asked, offset - EPISODES_PER_PAGE) if offset else None,
            "later": (
                _page(asked, offset + EPISODES_PER_PAGE) if len(found) > EPISODES_PER_PAGE else None
            ),
        },
    )


def _page(asked: dict[str, str], offset: int) -> str:
    return "?" + urlencode(
        {name: value for name, value in asked.items() if value}
        | ({"offset": offset} if offset > 0 else {})
    )


class EpisodeForm(BaseModel):
    """The episode form as posted: an emptied field clears what it held, but the title."""

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
        return cls.model_validate(form_values(episode, cls))

    def update(self) -> EpisodeUpdate:
        if not self.title.strip():
            raise InvalidInput("title: an episode needs a title (apps list it by its title).")
        given = self.model_dump()
        for name in ("article_url", "article_text", "season", "number"):
            if not given[name].strip():
                given[name] = None  # cleared
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
    audio = PurePosixPath(episode.audio_key).suffix
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
            # The version: the browser keeps the file it played at a URL (it is private,
            # cached for an hour), and a replaced file must not play the old one.
            "audio_url": f"/console/episodes/{episode.id}/audio{audio}?v={episode.audio_version}",
            "kinds": list(EpisodeKind),
            "types": list(EpisodeType),
            "problems": problems or [],
            "saved": SAVED_FILES.get(request.query_params.get("saved", "")),
            "uploaded": request.query_params.get("uploaded") == "1",
        },
        status_code=status_code,
    )


@router.get("/episodes/{episode_id}", dependencies=READER)
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
    clock: ClockDep,
) -> Response:
    try:
        episodes.update(session, episode, form.update(), now=clock())
    except (ValidationError, InvalidInput) as exc:  # refused before anything changed
        return _episode_page(request, episode, session, times, form, problems(exc), 422)
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
        episodes.publish(session, episode, PublishRequest(published_at=at), now=clock())
    except InvalidInput as exc:  # refused before anything changed
        return _episode_page(
            request, episode, session, times, problems=problems(exc), status_code=422
        )
    after = Times(times.zone, clock())  # "now" has moved on since the form was read
    at_time = when(episode.published_at, times.zone)
    scheduled = after.state(episode) == "scheduled"
    message = f"Scheduled for {at_time}." if scheduled else f"Published ({at_time})."
    return redirect(f"/console/episodes/{episode.id}", flash=f"{episode.title}: {message}")


# The shape of the accounts' one-action routes (console/router.py): a service call and a
# redirect saying what it did.
@router.post("/episodes/{episode_id}/unpublish", dependencies=EDITOR_FORM)
def unpublish_episode(episode: EpisodeDep, session: SessionDep, clock: ClockDep) -> Response:
    episodes.unpublish(session, episode, now=clock())
    return redirect(
        f"/console/episodes/{episode.id}",
        flash=f"{episode.title}: taken down; it is a draft again.",
    )


@router.get("/episodes/{episode_id}/artwork.{extension}", dependencies=READER)
def episode_artwork(episode: EpisodeDep, extension: str, files: FilesDep) -> Response:
    """The episode's artwork (read from its file, or uploaded), whether published or not."""
    return files.artwork(episode.artwork_key, extension, private=True)


@router.post("/episodes/{episode_id}/delete", dependencies=EDITOR_FORM)
def delete_episode(
    episode: EpisodeDep, session: SessionDep, storage: StorageDep, clock: ClockDep
) -> Response:
    show = session.get_one(Show, episode.show_id)
    title = episode.title
    episodes.delete(session, storage, episode, now=clock())
    return redirect(
        f"/console/shows/{show.slug}/episodes",
        flash=f"{title}: deleted, with its audio. It leaves every feed at the next poll.",
    )


@router.get("/episodes/{episode_id}/audio.{extension}", dependencies=READER)
def episode_audio(episode: EpisodeDep, extension: str, files: FilesDep) -> Response:
    """The episode's audio for the page's player, whether published or not (staff need no
    subscriber's token); with Range, as apps get it."""
    return files.audio(Audio.of(episode), extension, private=True)
