"""Where an imported old feed URL leads now: the lookup the server makes for a path no route
takes (app/imports/router.py). Apart from the import itself (service.py), so that serving
needs neither the feed parser nor the rest of the import."""

from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import Gone, NotFound
from app.core.tokens import FeedTokens
from app.core.urls import Urls
from app.models import FeedAccess, OldFeedUrl, Show, Subscriber, SubscriberStatus


class _OldUrlRow(NamedTuple):
    host: str
    imported_token_id: str | None
    current_token_id: str | None
    status: str | None
    slug: str


def moved_feed(
    session: Session, tokens: FeedTokens, urls: Urls, *, host: str, path: str
) -> str | None:
    """Where an old feed URL lives now, or None if it is no old feed URL of ours. A private
    feed's old URL follows its new one: 410 once revoked, gone (404) once rotated."""
    rows = [
        _OldUrlRow(*row)
        for row in session.execute(
            select(OldFeedUrl.host, OldFeedUrl.token_id, FeedAccess.token_id, Subscriber.status)
            .add_columns(Show.slug)
            .join(Show, Show.id == OldFeedUrl.show_id)
            .outerjoin(FeedAccess, FeedAccess.id == OldFeedUrl.feed_access_id)
            .outerjoin(Subscriber, Subscriber.id == FeedAccess.subscriber_id)
            .where(OldFeedUrl.path == path, OldFeedUrl.host.in_((host.lower(), "")))
        )
    ]
    if not rows:
        return None
    row = max(rows, key=lambda r: r.host != "")  # this host's, before any host's
    if row.imported_token_id is None:
        return urls.public_feed(row.slug)
    if row.current_token_id != row.imported_token_id:
        raise NotFound("No feed at this address. Ask the publisher for your feed link.")
    if row.status == SubscriberStatus.REVOKED:
        raise Gone("This feed has been switched off. Contact the publisher for access.")
    return urls.feed(tokens.token_for(row.imported_token_id))
