from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    StringConstraints,
    UrlConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from app.text import FeedHtml, FeedText, ShowTitle, Title

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")]
Name = Annotated[FeedText, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Url = Annotated[HttpUrl, UrlConstraints(max_length=2048)]  # the columns' length
# A field a request may leave out but not send as null: the show always has a value for it.
# (Validation lets null through to ShowUpdate's check, which names the field.)
NotNull = SkipJsonSchema[None]


# Apple Podcasts' categories and their subcategories.
APPLE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Arts": ("Books", "Design", "Fashion & Beauty", "Food", "Performing Arts", "Visual Arts"),
    "Business": (
        "Careers",
        "Entrepreneurship",
        "Investing",
        "Management",
        "Marketing",
        "Non-Profit",
    ),
    "Comedy": ("Comedy Interviews", "Improv", "Stand-Up"),
    "Education": ("Courses", "How To", "Language Learning", "Self-Improvement"),
    "Fiction": ("Comedy Fiction", "Drama", "Science Fiction"),
    "Government": (),
    "History": (),
    "Health & Fitness": (
        "Alternative Health",
        "Fitness",
        "Medicine",
        "Mental Health",
        "Nutrition",
        "Sexuality",
    ),
    "Kids & Family": ("Education for Kids", "Parenting", "Pets & Animals", "Stories for Kids"),
    "Leisure": (
        "Animation & Manga",
        "Automotive",
        "Aviation",
        "Crafts",
        "Games",
        "Hobbies",
        "Home & Garden",
        "Video Games",
    ),
    "Music": ("Music Commentary", "Music History", "Music Interviews"),
    "News": (
        "Business News",
        "Daily News",
        "Entertainment News",
        "News Commentary",
        "Politics",
        "Sports News",
        "Tech News",
    ),
    "Religion & Spirituality": (
        "Buddhism",
        "Christianity",
        "Hinduism",
        "Islam",
        "Judaism",
        "Religion",
        "Spirituality",
    ),
    "Science": (
        "Astronomy",
        "Chemistry",
        "Earth Sciences",
        "Life Sciences",
        "Mathematics",
        "Natural Sciences",
        "Nature",
        "Physics",
        "Social Sciences",
    ),
    "Society & Culture": (
        "Documentary",
        "Personal Journals",
        "Philosophy",
        "Places & Travel",
        "Relationships",
    ),
    "Sports": (
        "Baseball",
        "Basketball",
        "Cricket",
        "Fantasy Sports",
        "Football",
        "Golf",
        "Hockey",
        "Rugby",
        "Running",
        "Soccer",
        "Swimming",
        "Tennis",
        "Volleyball",
        "Wilderness",
        "Wrestling",
    ),
    "Technology": (),
    "True Crime": (),
    "TV & Film": ("After Shows", "Film History", "Film Interviews", "Film Reviews", "TV Reviews"),
}


# A show created without a category has this one (and no subcategory), until the publisher
# or an imported feed names its own.
DEFAULT_CATEGORY = "Technology"


class Person(BaseModel):
    """A podcast:person: a host, co-host or guest."""

    name: Name
    role: Annotated[str, StringConstraints(pattern=r"^[a-z -]{1,40}$")] = "host"
    group: Annotated[str, StringConstraints(pattern=r"^[a-z -]{1,40}$")] | None = None
    href: HttpUrl | None = None
    img: HttpUrl | None = None


class ShowFields(BaseModel):
    title: ShowTitle | NotNull = None
    description: FeedText | NotNull = None
    author: Name | NotNull = None
    owner_name: Name | NotNull = None
    owner_email: EmailStr | NotNull = None
    language: Language | NotNull = None
    category: Name | NotNull = None
    subcategory: Name | None = None
    explicit: bool | NotNull = None
    link: Url | NotNull = None
    subscribe_url: Url | None = Field(
        default=None,
        description="Where the show page and the lapsed notice send people to subscribe or "
        "renew; default PODPASS_RENEW_URL.",
    )
    itunes_type: Literal["episodic", "serial"] | NotNull = None
    feed_limit: int | None = Field(
        default=None,
        ge=0,
        le=100_000,
        description="Episodes in the main feed; older ones go to archive pages. 0 or null: all.",
    )
    people: list[Person] | NotNull = None
    personal_title: bool | NotNull = Field(
        default=None,
        description="Each subscriber's name in their feed's title: 'Sharp Tech (for Jane)' "
        "(their name, else their email's local part). A soft deterrent to sharing.",
    )

    @model_validator(mode="after")
    def _apple_category(self) -> Self:
        if self.category is None:
            if self.subcategory is not None:
                raise ValueError("give category together with subcategory")
            return self
        if self.category not in APPLE_CATEGORIES:
            raise ValueError(
                f"category {self.category!r} is not one of Apple's: {', '.join(APPLE_CATEGORIES)}"
            )
        allowed = APPLE_CATEGORIES[self.category]
        if self.subcategory is not None and self.subcategory not in allowed:
            raise ValueError(
                f"subcategory {self.subcategory!r} is not in {self.category!r}; "
                f"choose from: {', '.join(allowed) or '(none)'}"
            )
        return self


class ShowCreate(ShowFields):
    slug: Slug = Field(description="Lower-case letters, digits and dashes; fixed once created.")
    title: ShowTitle
    description: FeedText
    author: Name
    owner_name: Name
    owner_email: EmailStr
    link: Url | None = Field(
        default=None, description="The show's web page; default its public page here."
    )
    language: Language = "en"
    category: Name = DEFAULT_CATEGORY
    explicit: bool = False


CLEARABLE = frozenset({"subcategory", "feed_limit", "subscribe_url"})


class ShowUpdate(ShowFields):
    """Only the fields sent change. null clears subcategory, feed_limit and subscribe_url;
    the other fields always have a value, so null for them is refused."""

    @field_validator("*", mode="before")
    @classmethod
    def _null_clears_only_optional_fields(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.field_name not in CLEARABLE:
            raise ValueError("cannot be null: leave the field out to keep its value")
        return value


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
    subscribe_url: str | None
    itunes_type: str
    feed_limit: int | None
    people: list[dict[str, str]]
    personal_title: bool
    artwork_key: str | None
    feed_version: int
    created_at: datetime
    updated_at: datetime


WELCOME_PAGE_LINK = "{subscriber_page}"
MAX_WELCOME_DAYS = 3660


class WelcomeIn(BaseModel):
    """A show's welcome item, at the top of each subscriber's feed for their first days."""

    days: int = Field(
        default=30,
        ge=0,
        le=MAX_WELCOME_DAYS,
        description="How many days after a subscriber gains the show the item stays; 0: off "
        "(the rest is kept).",
    )
    title: Title | None = Field(default=None, description='Default: "Welcome to <show>".')
    notes: FeedHtml | None = Field(
        default=None,
        description=f"HTML or plain text, sanitised as show notes are. {WELCOME_PAGE_LINK} "
        "becomes the subscriber's own page link. Default: a short welcome with that link.",
    )


class WelcomeOut(BaseModel):
    days: int
    title: str | None = Field(description="None: the default title.")
    notes: str | None = Field(description="None: the default notes.")
    audio_uploaded: bool = Field(description="False: the default spoken welcome.")
    audio_mime: str | None
    audio_size: int | None
    duration_seconds: float | None
    updated_at: datetime
