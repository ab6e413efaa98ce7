from collections.abc import Sequence

from fastapi import APIRouter, UploadFile

from app.accounts.deps import require
from app.accounts.service import Permission
from app.core.db.session import SessionDep
from app.core.deps import ClockDep, UrlsDep
from app.models import Show, Welcome
from app.shows import service
from app.shows.deps import ShowDep, read_image
from app.shows.schemas import ShowCreate, ShowOut, ShowUpdate, WelcomeIn, WelcomeOut
from app.storage import StorageDep
from app.storage.uploads import PostedAudio

router = APIRouter(
    prefix="/admin/shows",
    tags=["shows"],
    dependencies=[require(Permission.SHOWS, reads=Permission.READ_SHOWS)],
)


@router.post("", status_code=201)
def create_show(data: ShowCreate, session: SessionDep, urls: UrlsDep) -> ShowOut:
    """A new show. Until artwork is uploaded, its feeds and pages show a title card: its
    title on PODPASS_PUBLISHER_COLOUR, as `podpass seed` gives its shows."""
    return ShowOut.model_validate(service.create(session, urls, data))


@router.get("")
def list_shows(session: SessionDep) -> list[ShowOut]:
    shows: Sequence[Show] = service.list_all(session)
    return [ShowOut.model_validate(show) for show in shows]


@router.get("/{slug}")
def read_show(show: ShowDep) -> ShowOut:
    return ShowOut.model_validate(show)


@router.patch("/{slug}")
def update_show(show: ShowDep, data: ShowUpdate, session: SessionDep, clock: ClockDep) -> ShowOut:
    return ShowOut.model_validate(service.update(session, show, data, now=clock()))


@router.put("/{slug}/artwork")
def set_show_artwork(
    show: ShowDep, image: UploadFile, session: SessionDep, storage: StorageDep, clock: ClockDep
) -> ShowOut:
    """Show artwork: JPEG or PNG, square, 1400 to 3000 px (Apple's rules)."""
    data = read_image(image)
    return ShowOut.model_validate(
        service.set_artwork(
            session, storage, show, data, image.filename or "the image", now=clock()
        )
    )


def _welcome_out(welcome: Welcome) -> WelcomeOut:
    return WelcomeOut(
        days=welcome.days,
        title=welcome.title,
        notes=welcome.notes,
        audio_uploaded=welcome.audio_key is not None,
        audio_mime=welcome.audio_mime,
        audio_size=welcome.audio_size,
        duration_seconds=welcome.duration_seconds,
        updated_at=welcome.updated_at,
    )


@router.get("/{slug}/welcome")
def read_welcome(show: ShowDep, session: SessionDep) -> WelcomeOut:
    return _welcome_out(service.welcome(session, show))


@router.put("/{slug}/welcome")
def put_welcome(show: ShowDep, data: WelcomeIn, session: SessionDep, clock: ClockDep) -> WelcomeOut:
    """The welcome item at the top of a new subscriber's feed: for how many days, its
    title and notes."""
    return _welcome_out(service.put_welcome(session, show, data, now=clock()))


# Same shape as delete_episode in episodes/router.py: each resource's own dependency and
# service, in FastAPI's idiom (the files they leave are removed after the commit).
@router.delete("/{slug}/welcome", status_code=204)
def delete_welcome(
    show: ShowDep, session: SessionDep, storage: StorageDep, clock: ClockDep
) -> None:
    service.delete_welcome(session, storage, show, now=clock())


@router.put("/{slug}/welcome/audio")
def set_welcome_audio(
    slug: str,
    audio: PostedAudio,
    session: SessionDep,
    storage: StorageDep,
    clock: ClockDep,
) -> WelcomeOut:
    """The welcome item's audio (MP3 or M4A), instead of the spoken default."""
    return _welcome_out(service.set_welcome_audio(session, storage, slug, audio, now=clock()))


@router.delete("/{slug}/welcome/audio")
def clear_welcome_audio(
    show: ShowDep, session: SessionDep, storage: StorageDep, clock: ClockDep
) -> WelcomeOut:
    """Back to the spoken default."""
    return _welcome_out(service.clear_welcome_audio(session, storage, show, now=clock()))
