from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    model_validator,
)

from app.models import EpisodeKind, EpisodeType
from app.shows.schemas import Person
from app.text import FeedHtml, FeedText, Title

# season and number are Integer columns: 32-bit on PostgreSQL.
MAX_INT32 = 2**31 - 1
_HTML = (
    "HTML (sanitised: p, a, lists, headings, img... are kept; scripts, styles and event "
    "attributes are dropped) or plain text (blank lines separate paragraphs)."
)


class EpisodeFields(BaseModel):
    """Everything about an episode except its audio; all optional so PATCH can reuse it."""

    title: Title | None = Field(
        default=None, description="Defaults to the audio file's own title tag on upload."
    )
    show_notes: FeedHtml | None = Field(default=None, description=_HTML)
    free: bool | None = None
    kind: EpisodeKind | None = None
    article_url: HttpUrl | None = None
    article_text: FeedHtml | None = Field(default=None, description=_HTML)
    episode_type: EpisodeType | None = None
    season: int | None = Field(default=None, ge=1, le=MAX_INT32)
    number: int | None = Field(default=None, ge=1, le=MAX_INT32)
    explicit: bool | None = None

    @model_validator(mode="after")
    def _article_needs_url(self) -> Self:
        if self.kind is EpisodeKind.ARTICLE and self.article_url is None:
            raise ValueError("an article narration needs article_url (the post it reads)")
        return self


class ChapterIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    # JSON has no Infinity (Python's parser takes it, and 1e400 overflows to it).
    start_time: float = Field(alias="startTime", ge=0, allow_inf_nan=False)
    title: Annotated[FeedText, StringConstraints(min_length=1, max_length=500)]
    img: HttpUrl | None = None
    url: HttpUrl | None = None


class Chapters(BaseModel):
    """Podcasting 2.0 JSON chapters."""

    version: str = "1.2.0"
    chapters: list[ChapterIn] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        starts = [chapter.start_time for chapter in self.chapters]
        if starts != sorted(starts):
            raise ValueError("chapters must be in order of startTime")
        return self


class EpisodeUpload(EpisodeFields):
    publish: bool = Field(default=False, description="Publish now (or at published_at).")
    published_at: AwareDatetime | None = Field(
        default=None, description="With a time zone. A future time schedules the episode."
    )


class EpisodeUpdate(EpisodeFields):
    people: list[Person] | None = Field(default=None, description="Hosts and guests.")


class PublishRequest(BaseModel):
    published_at: AwareDatetime | None = Field(
        default=None, description="Defaults to now, or the time already set."
    )


class EpisodeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    show_id: int
    guid: str
    title: str
    show_notes: str
    status: str
    published_at: datetime | None
    free: bool
    kind: str
    article_url: str | None
    article_text: str | None
    episode_type: str
    season: int | None
    number: int | None
    explicit: bool
    audio_mime: str
    audio_size: int
    duration_seconds: float
    bitrate: int
    artwork_key: str | None
    chapters: dict[str, Any] | None
    transcript_type: str | None
    people: list[dict[str, str]]
    created_at: datetime
    updated_at: datetime
