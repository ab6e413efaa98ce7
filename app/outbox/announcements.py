"""An episode's publication, announced once: a webhook event, and a note to each subscriber
who asked for one, both due when the episode comes out."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import (
    Episode,
    EpisodeAnnouncement,
    FeedAccess,
    NewEpisodeOptIn,
    OutboxKind,
    Subscriber,
    SubscriberStatus,
)
from app.outbox import service as outbox
from app.outbox import webhooks
from app.outbox.schemas import EmailTemplate, EventType

# A back catalogue published today with its original dates is not news to anyone.
NEWS_FOR = timedelta(days=2)


def episode_published(session: Session, episode: Episode) -> None:
    """Call on each publication: only the first one of an episode is announced."""
    if episode.published_at is None:
        return
    if session.get(EpisodeAnnouncement, episode.id) is not None:
        return
    session.add(EpisodeAnnouncement(episode_id=episode.id))
    if episode.published_at < utcnow() - NEWS_FOR:
        return
    webhooks.notify(session, EventType.EPISODE_PUBLISHED, episode.id, due=episode.published_at)
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
        due=episode.published_at,
    )
    session.flush()
