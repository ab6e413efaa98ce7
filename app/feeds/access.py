"""Stage one of serving a feed: who is asking, for what, and may they.

Every request is checked against the database (revocation is never cached) with one
indexed query on a pooled connection (`HotQuery`), returning typed rows. The answer is an
`Access`: the holder's token and its id (None for a show's public feed), which show, which
version of it, which kind of feed they see, and what of them their feed shows (`Holder`:
their name, join date, payment state and plan's back catalogue, from the same row). A known
token refused (`Inactive`, `Revoked`) carries its id too, so that the router records either
answer without reading the token again.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from app.core.clock import Clock
from app.core.db.engine import Database
from app.core.db.hot import HotQuery
from app.core.db.schema import MAX_ROW_ID
from app.core.errors import Forbidden, Gone, NotFound
from app.core.tokens import FeedTokens
from app.feeds.personal import Holder, cutoff, holder_name
from app.media.files import NOT_IN_FEED, Audio, plain_name
from app.models import (
    BackCatalogue,
    Episode,
    EpisodeStatus,
    FeedAccess,
    Plan,
    Show,
    Subscriber,
    SubscriberStatus,
)

NO_FEED = "No feed at this address. Check the URL, or ask the publisher for your feed link."
INACTIVE = (
    "This subscription is inactive, so paid episodes can't be played. "
    "Renew it and this link works again."
)
REVOKED = "This feed has been switched off. Contact the publisher for access."


class Variant(StrEnum):
    ACTIVE = "active"  # a subscriber's feed: everything they are entitled to
    INACTIVE = "inactive"  # lapsed, or the show left their plan: one notice
    PUBLIC = "public"  # the show's free episodes, for anyone


class Inactive(Forbidden):
    """A known token whose holder may not have this now (lapsed, or the show left their
    plan): 403. `token_id` is the id the gate checked, for the record."""

    def __init__(self, token_id: str | None) -> None:
        super().__init__(INACTIVE)
        self.token_id = token_id


class Revoked(Gone):
    """A revoked token: 410, for good. `token_id` is the id the gate checked."""

    def __init__(self, token_id: str) -> None:
        super().__init__(REVOKED)
        self.token_id = token_id


@dataclass(frozen=True)
class Access:
    """A checked request: `token` is stamped into the documents it is shown, and
    `token_id` is the id it was checked by (both None for a public feed); `changed_at` is
    when what this holder sees last changed for them."""

    token: str | None
    token_id: str | None
    subscriber_id: int | None
    show_id: int
    show_version: int
    variant: Variant
    changed_at: datetime | None
    holder: Holder | None = None  # None: a public feed


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A feed token's row: its holder, their show, and their standing."""

    subscriber_id: int
    entitled: bool
    status: str
    show_id: int
    show_version: int
    changed_at: datetime | None  # None: nothing has changed since the feed was made
    name: str | None
    email: str
    joined_at: datetime
    past_due_since: datetime | None
    back_catalogue: str | None  # None: no plan (shows given by hand): everything
    back_catalogue_latest: int | None
    back_catalogue_days: int | None


@dataclass(frozen=True, slots=True)
class AudioRow(TokenRow):
    """A token's row and, if it belongs to the token's show, the episode (else Nones)."""

    episode_status: str | None
    published_at: datetime | None
    free: bool | None
    key: str
    mime: str
    size: int
    title: str
    uploaded_at: datetime


class ShowRow(NamedTuple):
    show_id: int
    show_version: int


_BY_TOKEN = (
    select(
        FeedAccess.subscriber_id,
        FeedAccess.entitled,
        Subscriber.status,
        Show.id,
        Show.feed_version,
        FeedAccess.changed_at,
        Subscriber.name,
        Subscriber.email,
        FeedAccess.created_at,
        Subscriber.past_due_since,
        Plan.back_catalogue,
        Plan.back_catalogue_latest,
        Plan.back_catalogue_days,
    )
    .join(Subscriber, Subscriber.id == FeedAccess.subscriber_id)
    .join(Show, Show.id == FeedAccess.show_id)
    .outerjoin(Plan, Plan.id == Subscriber.plan_id)
    .where(FeedAccess.token_id == bindparam("token_id"))
)
_BY_TOKEN_WITH_EPISODE = _BY_TOKEN.add_columns(
    Episode.status,
    Episode.published_at,
    Episode.free,
    Episode.audio_key,
    Episode.audio_mime,
    Episode.audio_size,
    Episode.title,
    Episode.created_at,
).outerjoin(
    Episode, and_(Episode.id == bindparam("episode_id"), Episode.show_id == FeedAccess.show_id)
)
_BY_SLUG = select(Show.id, Show.feed_version).where(Show.slug == bindparam("slug"))


def check_listed(
    status: str | None,
    published_at: datetime | None,
    free: bool | None,
    access: Access,
    now: datetime,
) -> None:
    """Refuse an episode (or its files) that this kind of feed does not offer."""
    if status != EpisodeStatus.PUBLISHED or published_at is None or published_at > now:
        raise NotFound(NOT_IN_FEED)
    if not free and access.variant is Variant.PUBLIC:
        raise NotFound(NOT_IN_FEED)
    if not free and access.variant is Variant.INACTIVE:
        raise Inactive(access.token_id)


def _checked(token: str, token_id: str, row: TokenRow | None) -> Access:
    if row is None:
        raise NotFound(NO_FEED)
    if row.status == SubscriberStatus.REVOKED:
        raise Revoked(token_id)
    active = row.entitled and row.status == SubscriberStatus.ACTIVE
    holder = Holder(
        holder_name(row.name, row.email),
        row.joined_at,
        row.past_due_since,
        row.back_catalogue or BackCatalogue.ALL,
        row.back_catalogue_latest,
        row.back_catalogue_days,
    )
    return Access(
        token,
        token_id,
        row.subscriber_id,
        row.show_id,
        row.show_version,
        Variant.ACTIVE if active else Variant.INACTIVE,
        row.changed_at,
        holder,
    )


def _before_their_catalogue(row: AudioRow) -> bool:
    """An episode older than a date-based plan lets its holder see. (A latest-N plan's
    limit is not checked here: it would take a count per request.)"""
    days = row.back_catalogue_days
    if row.back_catalogue != BackCatalogue.SINCE_JOINING or days is None:
        return False
    return row.published_at is not None and row.published_at < cutoff(row.joined_at, days)


class Gate:
    """Answers, per request, whether a token (or anyone, for a public show) may have a
    feed or an episode's files."""

    def __init__(self, db: Database, tokens: FeedTokens, clock: Clock) -> None:
        self.tokens = tokens
        self.clock = clock
        # The one read of a poll, and of an enclosure (public: a test and the bench explain them).
        self.by_token = HotQuery(db.engine, _BY_TOKEN, TokenRow)
        self.by_token_with_episode = HotQuery(db.engine, _BY_TOKEN_WITH_EPISODE, AudioRow)
        self._by_slug = HotQuery(db.engine, _BY_SLUG, ShowRow)

    def subscriber(self, token: str) -> Access:
        """The holder of a feed token: the one read a poll costs."""
        token_id = self.tokens.token_id_of(token)
        if token_id is None:
            raise NotFound(NO_FEED)
        return _checked(token, token_id, self.by_token.one_or_none(token_id=token_id))

    def public(self, slug: str) -> Access:
        show = self._by_slug.one_or_none(slug=slug)
        if show is None:
            raise NotFound(f"No show {slug!r} here.")
        return Access(None, None, None, show.show_id, show.show_version, Variant.PUBLIC, None)

    def audio(self, token: str, episode_id: int) -> tuple[Access, Audio]:
        """An episode's audio, if the token's holder may play it, and who they are: one
        query for both."""
        if not 0 < episode_id <= MAX_ROW_ID:  # no row has it (and the driver can't bind it)
            raise NotFound(NOT_IN_FEED)
        token_id = self.tokens.token_id_of(token)
        if token_id is None:
            raise NotFound(NO_FEED)
        row = self.by_token_with_episode.one_or_none(token_id=token_id, episode_id=episode_id)
        access = _checked(token, token_id, row)
        assert row is not None
        check_listed(row.episode_status, row.published_at, row.free, access, self.clock())
        if not row.free and _before_their_catalogue(row):
            raise NotFound(NOT_IN_FEED)
        name = plain_name(episode_id)
        return access, Audio(row.key, row.mime, row.size, row.title, row.uploaded_at, name)

    def episode(self, session: Session, access: Access, episode_id: int) -> Episode:
        """An episode whose files (chapters, transcript, artwork) this access may fetch."""
        if not 0 < episode_id <= MAX_ROW_ID:  # as in audio()
            raise NotFound(NOT_IN_FEED)
        episode = session.get(Episode, episode_id)
        if episode is None or episode.show_id != access.show_id:
            raise NotFound(NOT_IN_FEED)
        check_listed(episode.status, episode.published_at, episode.free, access, self.clock())
        return episode
