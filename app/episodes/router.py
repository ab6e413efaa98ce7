from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Form, UploadFile

from app.accounts.deps import require
from app.accounts.service import Permission
from app.core.db.session import SessionDep
from app.core.deps import ClockDep, RowId
from app.core.errors import PayloadTooLarge
from app.episodes import service
from app.episodes.deps import EpisodeDep
from app.episodes.schemas import (
    Chapters,
    EpisodeOut,
    EpisodeUpdate,
    EpisodeUpload,
    PublishRequest,
)
from app.models import Episode
from app.shows.deps import ShowDep, read_image
from app.storage import StorageDep
from app.storage.uploads import PostedAudio

router = APIRouter(
    prefix="/admin",
    tags=["episodes"],
    dependencies=[require(Permission.SHOWS, reads=Permission.READ_SHOWS)],
)


@router.post("/shows/{slug}/episodes", status_code=201)
def upload_episode(
    slug: str,
    audio: PostedAudio,
    fields: Annotated[EpisodeUpload, Form()],
    session: SessionDep,
    storage: StorageDep,
    clock: ClockDep,
) -> EpisodeOut:
    """Upload an episode: multipart with the audio file (MP3 or M4A) plus its fields."""
    episode = service.upload(session, storage, slug, audio, fields=fields, now=clock())
    return EpisodeOut.model_validate(episode)


@router.get("/shows/{slug}/episodes")
def list_episodes(show: ShowDep, session: SessionDep) -> list[EpisodeOut]:
    episodes: Sequence[Episode] = service.list_for_show(session, show)
    return [EpisodeOut.model_validate(e) for e in episodes]


# Same shape as read_show/update_show in shows/router.py (and sharing's read_alert): each
# resource's own dependency, schema and service, in FastAPI's one-line idiom.
@router.get("/episodes/{episode_id}")
def read_episode(episode: EpisodeDep) -> EpisodeOut:
    return EpisodeOut.model_validate(episode)


@router.patch("/episodes/{episode_id}")
def update_episode(
    episode: EpisodeDep, data: EpisodeUpdate, session: SessionDep, clock: ClockDep
) -> EpisodeOut:
    return EpisodeOut.model_validate(service.update(session, episode, data, now=clock()))


@router.post("/episodes/{episode_id}/publish")
def publish_episode(
    episode: EpisodeDep, session: SessionDep, clock: ClockDep, data: PublishRequest | None = None
) -> EpisodeOut:
    published = service.publish(session, episode, data or PublishRequest(), now=clock())
    return EpisodeOut.model_validate(published)


@router.post("/episodes/{episode_id}/unpublish")
def unpublish_episode(episode: EpisodeDep, session: SessionDep, clock: ClockDep) -> EpisodeOut:
    return EpisodeOut.model_validate(service.unpublish(session, episode, now=clock()))


@router.delete("/episodes/{episode_id}", status_code=204)
def delete_episode(
    episode: EpisodeDep, session: SessionDep, storage: StorageDep, clock: ClockDep
) -> None:
    service.delete(session, storage, episode, now=clock())


@router.put("/episodes/{episode_id}/audio")
def replace_episode_audio(
    episode_id: RowId,
    audio: PostedAudio,
    session: SessionDep,
    storage: StorageDep,
    clock: ClockDep,
) -> EpisodeOut:
    """A corrected recording (MP3 or M4A): the same GUID, a new enclosure URL."""
    replaced = service.replace_audio(session, storage, episode_id, audio, now=clock())
    return EpisodeOut.model_validate(replaced)


@router.put("/episodes/{episode_id}/artwork")
def set_episode_artwork(
    episode: EpisodeDep,
    image: UploadFile,
    session: SessionDep,
    storage: StorageDep,
    clock: ClockDep,
) -> EpisodeOut:
    """Episode artwork (a chart for an article, say): JPEG or PNG, square, 1400-3000 px."""
    data = read_image(image)
    return EpisodeOut.model_validate(
        service.set_artwork(
            session, storage, episode, data, image.filename or "the image", now=clock()
        )
    )


@router.put("/episodes/{episode_id}/chapters")
def set_episode_chapters(
    episode: EpisodeDep, chapters: Chapters, session: SessionDep, clock: ClockDep
) -> EpisodeOut:
    """Chapters in the Podcasting 2.0 JSON format (they replace any read from the file)."""
    return EpisodeOut.model_validate(service.set_chapters(session, episode, chapters, now=clock()))


MAX_TRANSCRIPT_BYTES = 5 * 1024 * 1024


@router.put("/episodes/{episode_id}/transcript")
def set_episode_transcript(
    episode: EpisodeDep, transcript: UploadFile, session: SessionDep, clock: ClockDep
) -> EpisodeOut:
    """A transcript as WebVTT (.vtt), SubRip (.srt) or plain text (.txt)."""
    data = transcript.file.read(MAX_TRANSCRIPT_BYTES + 1)
    if len(data) > MAX_TRANSCRIPT_BYTES:
        raise PayloadTooLarge("Transcripts are limited to 5 MB.")
    return EpisodeOut.model_validate(
        service.set_transcript(
            session, episode, data, transcript.filename or "transcript", now=clock()
        )
    )
