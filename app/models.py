"""Every ORM model."""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.clock import utcnow
from app.core.db.schema import Base, UTCDateTime


class EpisodeStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class EpisodeKind(StrEnum):
    EPISODE = "episode"
    ARTICLE = "article"


class EpisodeType(StrEnum):
    FULL = "full"
    TRAILER = "trailer"
    BONUS = "bonus"


# Transcript files by extension, and the type each is served and announced as.
TRANSCRIPT_TYPES = {"vtt": "text/vtt", "srt": "application/x-subrip", "txt": "text/plain"}


class SubscriberStatus(StrEnum):
    ACTIVE = "active"
    LAPSED = "lapsed"
    REVOKED = "revoked"


# On SQLite, ids of these tables are never handed out again (AUTOINCREMENT; PostgreSQL's
# sequences never do): a row's id outlives it, in a queued message's payload, a signed page
# link or the analytics, and must not come to name a newer row.
_IDS_NOT_REUSED = {"sqlite_autoincrement": True}


def _one_of(column: str, enum: type[StrEnum]) -> CheckConstraint:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return CheckConstraint(f"{column} IN ({values})", name=column)


class Show(Base):
    __tablename__ = "shows"
    __table_args__ = _IDS_NOT_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(255))
    owner_name: Mapped[str] = mapped_column(String(255))
    owner_email: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(64))
    subcategory: Mapped[str | None] = mapped_column(String(64))
    explicit: Mapped[bool] = mapped_column(Boolean, default=False)
    link: Mapped[str] = mapped_column(String(2048))
    # Where the show page and the lapsed notice send people to subscribe or renew (None: the
    # publisher-wide PODPASS_RENEW_URL).
    subscribe_url: Mapped[str | None] = mapped_column(String(2048))
    artwork_key: Mapped[str | None] = mapped_column(String(512))
    itunes_type: Mapped[str] = mapped_column(
        String(16), default="episodic", server_default="episodic"
    )
    # How many recent episodes the main feed carries (None: all); older ones are on archive
    # pages (RFC 5005).
    feed_limit: Mapped[int | None] = mapped_column(Integer)
    people: Mapped[list[dict[str, str]]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    # The public feed's address at its previous host (`podpass import feed --public`): that
    # URL answers 301 here, and the public feed announces its new URL (itunes:new-feed-url).
    previous_feed_url: Mapped[str | None] = mapped_column(String(2048))
    # "Sharp Tech (for Jane)": each subscriber's name in their feed's title, a soft
    # deterrent to sharing the URL.
    personal_title: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Bumped by every change that alters the show's feeds; feeds are cached per version.
    feed_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Episode(Base):
    __tablename__ = "episodes"
    __table_args__ = (
        _one_of("status", EpisodeStatus),
        _one_of("kind", EpisodeKind),
        _one_of("episode_type", EpisodeType),
        # What a feed's document asks on every new show version (which episodes, and which
        # changed), answered from the index alone: 45 → 25 ms for 20,000 episodes.
        Index(
            "ix_episodes_listing", "show_id", "status", "published_at", "id", "updated_at", "free"
        ),
        _IDS_NOT_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="RESTRICT"), index=True)
    # Ours are UUIDs; an imported episode keeps its old host's, which may be a long URL.
    guid: Mapped[str] = mapped_column(String(255), unique=True, default=lambda: str(uuid.uuid4()))
    title: Mapped[str] = mapped_column(String(500))
    show_notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=EpisodeStatus.DRAFT)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    free: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(16), default=EpisodeKind.EPISODE)
    article_url: Mapped[str | None] = mapped_column(String(2048))
    article_text: Mapped[str | None] = mapped_column(Text)
    episode_type: Mapped[str] = mapped_column(String(16), default=EpisodeType.FULL)
    season: Mapped[int | None] = mapped_column(Integer)
    number: Mapped[int | None] = mapped_column(Integer)
    explicit: Mapped[bool] = mapped_column(Boolean, default=False)
    audio_key: Mapped[str] = mapped_column(String(512))
    audio_mime: Mapped[str] = mapped_column(String(64))
    audio_size: Mapped[int] = mapped_column(BigInteger)
    # Bytes before the audio frames (an ID3 tag, say): a download's first minute starts there.
    audio_offset: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    # 1 for the audio first uploaded, one more each time it is replaced: the enclosure URL
    # carries it (apps keep a download by its URL, and fetch the new file at a new one).
    audio_version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    duration_seconds: Mapped[float] = mapped_column(Float)
    bitrate: Mapped[int] = mapped_column(Integer)
    artwork_key: Mapped[str | None] = mapped_column(String(512))
    # Podcasting 2.0 JSON chapters: {"version": "1.2.0", "chapters": [...]}
    chapters: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    transcript: Mapped[str | None] = mapped_column(Text)
    transcript_type: Mapped[str | None] = mapped_column(String(32))
    people: Mapped[list[dict[str, str]]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    show: Mapped[Show] = relationship(lazy="raise")


class Subscriber(Base):
    __tablename__ = "subscribers"
    __table_args__ = (_one_of("status", SubscriberStatus), _IDS_NOT_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=SubscriberStatus.ACTIVE)
    # When the billing event last applied to this subscriber happened, and its type: older
    # events that arrive late are not applied over newer ones, nor one of the same second
    # that comes before it in meaning (a cancel after the refund that followed it).
    billing_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    billing_event_type: Mapped[str | None] = mapped_column(String(32))
    # When the billing provider said a payment failed (Stripe's past_due, Patreon's declined
    # patron), until a payment or an end: access continues for PODPASS_PAST_DUE_GRACE_DAYS,
    # then the past_due job lapses it.
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # For personal feed titles; None: the email's local part stands in.
    name: Mapped[str | None] = mapped_column(String(255))
    # The plan billing last granted (None: shows given by hand): its back-catalogue rule
    # decides which episodes their feeds list.
    plan_id: Mapped[str | None] = mapped_column(
        ForeignKey("plans.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    feeds: Mapped[list["FeedAccess"]] = relationship(
        back_populates="subscriber",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="FeedAccess.show_id",
    )


class FeedAccess(Base):
    """A subscriber's private feed for one show: the token's public half, and whether the
    subscriber is currently entitled to the show. The token's secret half is an HMAC of
    `token_id` under the server key, so the database alone cannot rebuild a feed URL."""

    __tablename__ = "feed_access"
    __table_args__ = (UniqueConstraint("subscriber_id", "show_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="RESTRICT"))
    token_id: Mapped[str] = mapped_column(String(32), unique=True)
    entitled: Mapped[bool] = mapped_column(Boolean, default=True)
    # When the subscriber gained the show (kept through rotations and lapses): their join
    # date for the welcome item and for date-based back catalogues.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When what this feed shows last changed for its holder (entitlement or status), so
    # Last-Modified moves forward and each lapse's notice is a new item.
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subscriber: Mapped[Subscriber] = relationship(back_populates="feeds", lazy="raise")
    show: Mapped[Show] = relationship(lazy="joined")


plan_shows = Table(
    "plan_shows",
    Base.metadata,
    Column("plan_id", ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True),
    Column("show_id", ForeignKey("shows.id", ondelete="RESTRICT"), primary_key=True),
)


class BackCatalogue(StrEnum):
    """Which of a show's episodes a plan's subscribers see."""

    ALL = "all"
    LATEST = "latest"  # the newest `back_catalogue_latest`
    SINCE_JOINING = "since_joining"  # published from `back_catalogue_days` before joining


class Plan(Base):
    """A billing plan (as the billing system names it) and the shows it entitles to."""

    __tablename__ = "plans"
    __table_args__ = (
        _one_of("back_catalogue", BackCatalogue),
        CheckConstraint(
            "(back_catalogue = 'latest') = (back_catalogue_latest IS NOT NULL) AND "
            "(back_catalogue = 'since_joining') = (back_catalogue_days IS NOT NULL)",
            name="back_catalogue_parameter",
        ),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    back_catalogue: Mapped[str] = mapped_column(
        String(16), default=BackCatalogue.ALL, server_default=BackCatalogue.ALL.value
    )
    back_catalogue_latest: Mapped[int | None] = mapped_column(Integer)
    back_catalogue_days: Mapped[int | None] = mapped_column(Integer)
    shows: Mapped[list[Show]] = relationship(
        secondary=plan_shows, lazy="selectin", order_by=Show.id
    )
    external_ids: Mapped[list["PlanExternalId"]] = relationship(
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="(PlanExternalId.provider, PlanExternalId.external_id)",
    )


class PlanExternalId(Base):
    """A billing provider's price or tier id (Stripe price_…, a Memberful plan id, a Patreon
    or Ghost tier id) and the plan it buys: one id buys one plan."""

    __tablename__ = "plan_external_ids"

    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)


class WebhookEvent(Base):
    """A billing event already recorded: the same event id twice changes nothing. A
    provider's grant for a price no plan lists keeps `payload` (the event as Podpass reads
    it, not the provider's body) until it is applied or PODPASS_EVENT_RETENTION_DAYS pass."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    outcome: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    duplicates: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Whom it concerned, once a subscriber was found for it: their page lists their events.
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )


class EventKind(StrEnum):
    FEED = "feed"  # a feed poll (or an archive page)
    AUDIO = "audio"  # an enclosure request: streamed, or redirected to S3


class ListenEvent(Base):
    """One feed or audio request, as it was answered. Raw: kept for PODPASS_EVENT_RETENTION_DAYS
    and then deleted (downloads, below, are kept). No raw IP: a hash under the day's salt (for
    counting unique listeners that day) and the network prefix (for sharing detection)."""

    __tablename__ = "listen_events"
    __table_args__ = (_one_of("kind", EventKind), Index(None, "subscriber_id"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(8))
    # Who (None on a show's public side, or a token that named no feed) and what.
    token_id: Mapped[str | None] = mapped_column(String(32))
    subscriber_id: Mapped[int | None] = mapped_column(Integer)
    show_id: Mapped[int | None] = mapped_column(Integer)
    episode_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(8))
    range_start: Mapped[int | None] = mapped_column(BigInteger)  # the first Range, as asked
    range_end: Mapped[int | None] = mapped_column(BigInteger)  # inclusive; None: to the end
    user_agent: Mapped[str] = mapped_column(String(512))
    ip_hash: Mapped[str] = mapped_column(String(32))  # IPv6 cut to /64 first
    ip_prefix: Mapped[str] = mapped_column(String(64))  # /24 for IPv4, /48 for IPv6
    # The OPAWG user-agents-v2 verdict, classified off the request path.
    app: Mapped[str | None] = mapped_column(String(128))
    device: Mapped[str | None] = mapped_column(String(128))
    device_category: Mapped[str | None] = mapped_column(String(32))
    bot: Mapped[bool] = mapped_column(Boolean, default=False)


class DailySalt(Base):
    """The salt that IPs are hashed under, one per UTC day, shared by every worker and
    deleted after the day (so yesterday's hashes can no longer be matched to an IP)."""

    __tablename__ = "daily_salts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    salt: Mapped[str] = mapped_column(String(64))


class Download(Base):
    """One download as IAB Podcast Measurement v2.2 counts it: a unique IP + user agent +
    episode per UTC day, made from that day's qualifying audio requests. Built idempotently
    from the raw events (a day is rebuilt whole) and kept after they are gone."""

    __tablename__ = "downloads"
    __table_args__ = (
        UniqueConstraint("day", "episode_id", "ip_hash", "user_agent"),  # also serves `day`
        Index(None, "show_id", "day"),
        Index(None, "episode_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    show_id: Mapped[int] = mapped_column(Integer)
    episode_id: Mapped[int] = mapped_column(Integer)
    ip_hash: Mapped[str] = mapped_column(String(32))
    user_agent: Mapped[str] = mapped_column(String(512))
    # From the download's first request.
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    token_id: Mapped[str | None] = mapped_column(String(32), index=True)
    subscriber_id: Mapped[int | None] = mapped_column(Integer, index=True)
    ip_prefix: Mapped[str] = mapped_column(String(64))
    app: Mapped[str | None] = mapped_column(String(128))
    device: Mapped[str | None] = mapped_column(String(128))
    device_category: Mapped[str | None] = mapped_column(String(32))


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ROTATED = "rotated"


class SharingAlert(Base):
    """A feed URL whose downloads look shared beyond one household, with the evidence."""

    __tablename__ = "sharing_alerts"
    __table_args__ = (
        _one_of("status", AlertStatus),
        # One unresolved alert per feed URL, even when two detections run at once.
        Index(
            "uq_sharing_alerts_unresolved_token_id",
            "token_id",
            unique=True,
            sqlite_where=text("status IN ('open', 'acknowledged')"),
            postgresql_where=text("status IN ('open', 'acknowledged')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[str] = mapped_column(String(32), index=True)
    subscriber_id: Mapped[int] = mapped_column(Integer, index=True)
    show_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.OPEN)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # {"prefixes": [...], "apps": [...], "devices": [...], "downloads": n,
    #  "downloads_per_episode": {...}, "overcast_subscribers": n | null,
    #  "first_seen": iso, "last_seen": iso, "window_days": n}
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)


class Role(StrEnum):
    OWNER = "owner"
    EDITOR = "editor"
    SUPPORT = "support"
    ANALYST = "analyst"


class StaffUser(Base):
    """Someone on the publisher's team: logs in to the console, holds API keys."""

    __tablename__ = "staff_users"
    __table_args__ = (_one_of("role", Role),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, with its parameters
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: active
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Console sessions issued before this have ended (logout, disabling): the cookie is
    # signed and stored nowhere else, so this is how the server ends one.
    sessions_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKey(Base):
    """A user's key for the HTTP API. The key is `pp_` + `key_id` + a 256-bit secret; only
    its SHA-256 is kept, so the database alone cannot be used to call the API."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class _Attempts:
    """A rate-limit log: a row per attempt, counted per client network (`ip`) and per the
    table's own key over a window, in the database so that every worker counts the same;
    rows older than the window go as new ones arrive. Each throttle has its own table, with
    its own limits and answers: the console's login, the portal's "email me my links"."""

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoginFailure(_Attempts, Base):
    """A console login attempt, counted per submitted email and per client IP to throttle
    guessing: written before the password is checked (so parallel guesses are counted too)
    and deleted when it succeeds."""

    __tablename__ = "login_failures"
    __table_args__ = (Index(None, "email", "at"), Index(None, "ip", "at"))

    email: Mapped[str] = mapped_column(String(320))


class OutboxKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a sender until next_attempt_at (its lease)
    SENT = "sent"
    DEAD = "dead"  # out of tries, or refused for good; the admin API can retry it


class OutboxMessage(Base):
    """An email (or, later, a webhook delivery), written in the transaction of the change
    that causes it and delivered afterwards, at least once, by the outbox sender."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        _one_of("kind", OutboxKind),
        _one_of("status", OutboxStatus),
        # The sender's question: what is pending or past its lease, and due by now?
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        _IDS_NOT_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    # Made once at enqueue: the email's Message-ID (or a webhook's delivery id) is built
    # from it, so every retry of one message carries the same id.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When a sender may next claim it: now, after a backoff, or when a claim's lease ends.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookEndpoint(Base):
    """A publisher's system that hears about events (a CRM, Slack, Zapier). Its signing
    secret is an HMAC of `secret_id` under the server key, so the database alone cannot
    forge a delivery; rotating replaces `secret_id`."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = _IDS_NOT_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(String(255), default="")
    secret_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One event for one endpoint, carried by one outbox message."""

    __tablename__ = "webhook_deliveries"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="CASCADE"), primary_key=True
    )
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(64))


class WebhookAttempt(Base):
    """One try of a delivery and what the endpoint answered."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)  # None: no HTTP answer
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)


class LinkRequest(_Attempts, Base):
    """An "email me my links" or a staff "forgot password" request, counted per address
    (hashed under the server key: most addresses asked for belong to no one) and per client
    network (app/outbox/service.py link_requested)."""

    __tablename__ = "link_requests"
    __table_args__ = (Index(None, "email_hash", "at"), Index(None, "ip", "at"))

    email_hash: Mapped[str] = mapped_column(String(64))


class NewEpisodeOptIn(Base):
    """A subscriber who asked for an email when a show of theirs publishes an episode."""

    __tablename__ = "new_episode_opt_ins"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EpisodeAnnouncement(Base):
    """An episode whose publication was announced (emails, webhooks): once, however often it
    is published again."""

    __tablename__ = "episode_announcements"

    episode_id: Mapped[int] = mapped_column(
        ForeignKey("episodes.id", ondelete="CASCADE"), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OldFeedUrl(Base):
    """A feed's address at the publisher's previous host, answered with a 301 to the feed
    here once the old domain points at Podpass: a subscriber's private feed (`feed_access_id`)
    or a show's public feed (None). `token_id` is the private feed's token when the URL was
    imported: a rotation or a reinstatement after revocation replaces the feed's token, and
    the old URL dies with the old token. `host` is '' when any host may ask."""

    __tablename__ = "old_feed_urls"
    __table_args__ = (UniqueConstraint("path", "host"),)  # also the lookup's index

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(2048))  # with its query string, if it had one
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    feed_access_id: Mapped[int | None] = mapped_column(
        ForeignKey("feed_access.id", ondelete="CASCADE"), index=True
    )
    token_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Welcome(Base):
    """A show's welcome item: at the top of a subscriber's feed for `days` after they gain
    the show. Title and notes None: the defaults (render.py); no audio: the spoken default
    (app/feeds/welcome.mp3). `{subscriber_page}` in the notes is the subscriber's page link."""

    __tablename__ = "welcomes"

    show_id: Mapped[int] = mapped_column(
        ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True
    )
    days: Mapped[int] = mapped_column(Integer)  # 0: off, the rest kept
    title: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
    audio_key: Mapped[str | None] = mapped_column(String(512))
    audio_mime: Mapped[str | None] = mapped_column(String(64))
    audio_size: Mapped[int | None] = mapped_column(BigInteger)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditVia(StrEnum):
    CONSOLE = "console"  # a console page, or the console's own calls to the admin API
    API = "api"  # an API key, or the bootstrap PODPASS_ADMIN_KEY
    BILLING = "billing"  # a billing provider's webhook
    CLI = "cli"  # a `podpass` command
    SYSTEM = "system"  # a background job
    PORTAL = "portal"  # a subscriber, on their own page


class AuditEvent(Base):
    """Who did what to what, and when: written in the transaction of the change, so a change
    rolled back leaves no row. `actor` is the label as it was (an email, PODPASS_ADMIN_KEY,
    billing:stripe, system); `actor_user_id` the staff account, while it exists. The target
    is named by a label as it was too: the row outlives a deleted episode."""

    __tablename__ = "audit_events"
    __table_args__ = (
        _one_of("via", AuditVia),
        Index(None, "action", "at"),
        Index(None, "actor", "at"),
        Index(None, "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    actor: Mapped[str] = mapped_column(String(320))
    via: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(255))
    target_label: Mapped[str] = mapped_column(String(500))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
