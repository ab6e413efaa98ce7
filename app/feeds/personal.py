"""What makes one subscriber's feed differ from the show's shared one, kept off the
per-request cost: the few variants a show has (a welcome item or not, a payment problem or
not, a back-catalogue cutoff) are shared documents, chosen per request by a `Shape`; the
personal title is the one per-subscriber part, a stored gzip block between two shared
segments (splice.TitleCut).
"""

import bisect
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from app.models import BackCatalogue


@dataclass(frozen=True, slots=True)
class Holder:
    """What the Gate's row says about the holder beyond their standing: enough to choose
    their variant and write their title, with no further query."""

    name: str  # their name, else their email's local part
    joined_at: datetime  # when they gained the show
    past_due_since: datetime | None
    back_catalogue: str  # BackCatalogue
    latest: int | None  # back_catalogue == latest: how many
    days_before: int | None  # back_catalogue == since_joining: from how long before joining


def holder_name(name: str | None, email: str) -> str:
    return name or email.partition("@")[0]


@dataclass(frozen=True, slots=True)
class Shape:
    """Which shared variant of a show's feed a holder sees."""

    welcome: bool = False
    payment_day: date | None = None  # the day their payment became past due
    episodes: int | None = None  # the newest this many; None: every one

    @property
    def is_plain(self) -> bool:
        return self == PLAIN


PLAIN = Shape()


def shape_for(
    holder: Holder,
    *,
    welcome_days: int,
    listed: int,
    dates: Callable[[], Sequence[datetime]],
    now: datetime,
) -> Shape:
    """The variant for a holder, from the show's welcome days, how many episodes its feed
    lists, and (asked only for a date-based back catalogue) their publication dates,
    newest first."""
    welcome = welcome_days > 0 and now < holder.joined_at + timedelta(days=welcome_days)
    payment_day = holder.past_due_since.date() if holder.past_due_since else None
    return Shape(welcome, payment_day, _episodes(holder, listed, dates))


def _episodes(holder: Holder, listed: int, dates: Callable[[], Sequence[datetime]]) -> int | None:
    if holder.back_catalogue == BackCatalogue.LATEST and holder.latest is not None:
        count = min(holder.latest, listed)
    elif holder.back_catalogue == BackCatalogue.SINCE_JOINING and holder.days_before is not None:
        count = published_since(dates(), cutoff(holder.joined_at, holder.days_before))
    else:
        return None
    return None if count >= listed else count  # all of them: the plain document


def cutoff(joined_at: datetime, days_before: int) -> datetime:
    """The start of the UTC day `days_before` days before joining: cutoffs are whole days,
    so subscribers who joined on one day share one variant."""
    day = joined_at.astimezone(UTC).date() - timedelta(days=days_before)
    return datetime.combine(day, time(), UTC)


def published_since(dates: Sequence[datetime], since: datetime) -> int:
    """How many of the newest-first dates are at or after `since`."""
    return bisect.bisect_right(dates, -since.timestamp(), key=lambda d: -d.timestamp())


def title_suffix(name: str) -> bytes:
    """ " (for Jane)" as the channel's title text holds it, escaped as lxml escapes text."""
    escaped = html.escape(f" (for {name})", quote=False).replace("\r", "&#13;")
    return escaped.encode()
