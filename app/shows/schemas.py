from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, HttpUrl, StringConstraints

from app.text import FeedText, Title

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")]
Name = Annotated[FeedText, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


class ShowFields(BaseModel):
    title: Title | None = None
    description: FeedText | None = None
    author: Name | None = None
    owner_name: Name | None = None
    owner_email: EmailStr | None = None
    language: Language | None = None
    category: Name | None = None
    subcategory: Name | None = None
    explicit: bool | None = None
    link: HttpUrl | None = None


class ShowCreate(ShowFields):
    slug: Slug = Field(description="Lower-case letters, digits and dashes; fixed once created.")
    title: Title
    description: FeedText
    author: Name
    owner_name: Name
    owner_email: EmailStr
    link: HttpUrl
    language: Language = "en"
    category: Name = "Technology"
    explicit: bool = False


class ShowUpdate(ShowFields):
    pass


class ShowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    title: str
    description: str
    author: str
    owner_name: str
    owner_email: str
    language: str
    category: str
    subcategory: str | None
    explicit: bool
    link: str
    feed_version: int
    created_at: datetime
    updated_at: datetime
