from datetime import datetime
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl, model_validator

from app.models import EpisodeKind, EpisodeType
from app.text import FeedText, Title


class EpisodeFields(BaseModel):
    """Everything about an episode except its audio; all optional so PATCH can reuse it."""

    title: Title | None = Field(
        default=None, description="Defaults to the audio file's own title tag on upload."
    )
    show_notes: FeedText | None = Field(default=None, description="HTML.")
    free: bool | None = None
    kind: EpisodeKind | None = None
    article_url: HttpUrl | None = None
    article_text: FeedText | None = None
    episode_type: EpisodeType | None = None
    season: int | None = Field(default=None, ge=1)
    number: int | None = Field(default=None, ge=1)
    explicit: bool | None = None

    @model_validator(mode="after")
    def _article_needs_url(self) -> Self:
        if self.kind is EpisodeKind.ARTICLE and self.article_url is None:
            raise ValueError("an article narration needs article_url (the post it reads)")
        return self


class EpisodeUpload(EpisodeFields):
    publish: bool = Field(default=False, description="Publish now (or at published_at).")
    published_at: AwareDatetime | None = Field(
        default=None, description="With a time zone. A future time schedules the episode."
    )


class EpisodeUpdate(EpisodeFields):
    pass


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
    created_at: datetime
    updated_at: datetime
