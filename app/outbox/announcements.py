"""An episode's publication, announced once: a webhook event, and a note to each subscriber
who asked for one, both due when the episode comes out. Unpublished before any of it went
out, it was never announced: published again, it is announced then."""

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app.models import (
    Episode,
    EpisodeAnnouncement,
    FeedAccess,
    NewEpisodeOptIn,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Subscriber,
    SubscriberStatus,
)
from app.outbox import service as outbox
from app.outbox import webhooks
from app.outbox.schemas import EmailTemplate, WebhookEvent

# A back catalogue published today with its original dates is not news to anyone.
NEWS_FOR = timedelta(days=2)


def episode_published(session: Session, episode: Episode, now: datetime) -> None:
    """Call on each publication: only the first one of an episode is announced."""
    if episode.published_at is None:
        return
    if session.get(EpisodeAnnouncement, episode.id) is not None:
        return
    session.add(EpisodeAnnouncement(episode_id=episode.id))
    if episode.published_at < now - NEWS_FOR:
        return
    webhooks.notify(
        session, WebhookEvent.EPISODE_PUBLISHED, episode.id, now=now, due=episode.published_at
    )
    listeners = session.execute(
        select(Subscriber.id, Subscriber.email)
        .join(FeedAccess, FeedAccess.subscriber_id == Subscriber.id)
        .join(NewEpisodeOptIn, NewEpisodeOptIn.subscriber_id == Subscriber.id)
        .where(
            FeedAccess.show_id == episode.show_id,
            FeedAccess.entitled.is_(True),
            Subscriber.status == SubscriberStatus.ACTIVE,
        )
    )
    outbox.enqueue_many(
        session,
        OutboxKind.EMAIL,
        (
            outbox.email_payload(
                EmailTemplate.NEW_EPISODE, subscriber_id=id_, to=email, episode_id=episode.id
            )
            for id_, email in listeners
        ),
        now=now,
        due=episode.published_at,
    )
    session.flush()


def episode_withdrawn(session: Session, episode: Episode) -> None:
    """Call on unpublishing: what has not gone out yet will not. If none of it went out
    (or is going out), the episode was never announced, and its next publication is."""
    payload = OutboxMessage.payload
    announcing = or_(
        and_(
            OutboxMessage.kind == OutboxKind.WEBHOOK,
            payload["type"].as_string() == WebhookEvent.EPISODE_PUBLISHED.value,
            payload["subject_id"].as_integer() == episode.id,
        ),
        and_(
            OutboxMessage.kind == OutboxKind.EMAIL,
            payload["template"].as_string() == EmailTemplate.NEW_EPISODE.value,
            payload["episode_id"].as_integer() == episode.id,
        ),
    )
    outbox.cancel(session, announcing, reason="not sent: the episode was unpublished first")
    gone_out = session.scalar(
        select(OutboxMessage.id)
        .where(announcing, OutboxMessage.status.in_([OutboxStatus.SENT, OutboxStatus.SENDING]))
        .limit(1)
    )
    announcement = session.get(EpisodeAnnouncement, episode.id)
    if gone_out is None and announcement is not None:
        session.delete(announcement)
    session.flush()
