"""Stage one of listening analytics: recording, off the request path.

A route hands the `Recorder` each feed poll and audio request as a `Hit`: raw values, put on
a bounded in-memory queue, with no I/O and no lock (when the queue is full the hit is dropped
and counted). A background thread writes the queue as `ListenEvent` rows every few seconds, and
once more at shutdown, in one transaction: there it classifies the user agent, cuts the IP
to its network prefix and hashes it under the day's salt, so no raw IP reaches the database.
A crash loses what was queued since the last write: one batch at most.
"""

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache, partial
from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.analytics import useragents, writers
from app.analytics.anonymise import day_salt, ip_hash, place
from app.analytics.writers import KIND_VALUES, Row
from app.core.clock import Clock
from app.core.db.engine import Database
from app.core.db.session import transaction
from app.models import DailySalt, EventKind, FeedAccess

logger = logging.getLogger(__name__)

# Token ids looked up per query when the flush fills in a hit's owner.
LOOKUP_CHUNK = 500


class Hit(NamedTuple):
    """A request as its route saw it. subscriber_id and show_id are None when the route did
    not learn them (a refused token): the flush finds them from the token's row. Made on the
    request path: a NamedTuple costs about 0.8 µs more than a plain tuple there, against the
    few hundred µs of a request."""

    at: datetime
    kind: EventKind
    status: int
    method: str
    token_id: str | None
    subscriber_id: int | None
    show_id: int | None
    episode_id: int | None
    byte_range: str | None  # the Range header as sent
    user_agent: str
    ip: str  # the client's address


class TokenOwner(NamedTuple):
    """Whose feed a token opens, for a hit whose route did not learn it (a refusal)."""

    subscriber_id: int
    show_id: int


@lru_cache(maxsize=4096)  # apps ask for the same few ranges: bytes=0-1, bytes=0-
def first_range(header: str | None) -> tuple[int | None, int | None]:
    """The first range of a Range header, as asked: `bytes=a-b` is (a, b), `bytes=a-` is
    (a, None), a suffix `bytes=-n` (the last n bytes) is (None, n); anything else, or no
    header, is (None, None)."""
    if not header:
        return None, None
    unit, _, ranges = header.partition("=")
    start, dash, end = ranges.split(",", 1)[0].strip().partition("-")
    if unit.strip().lower() != "bytes" or not dash:
        return None, None
    try:
        first, last = int(start) if start else None, int(end) if end else None
    except ValueError:
        return None, None
    if (first is None and last is None) or min(first or 0, last or 0) < 0:
        return None, None
    return first, last


class Recorder:
    """The bounded queue of hits and the thread that writes them. `record` neither blocks
    nor takes a lock: a deque's append and popleft are atomic. The bound is checked before
    the append, so threads appending at once may pass it by one hit each."""

    def __init__(
        self, db: Database, clock: Clock, *, queue_size: int, flush_seconds: float
    ) -> None:
        self.db = db
        self.clock = clock
        self.queue_size = queue_size
        self.flush_seconds = flush_seconds
        self.dropped = 0  # hits refused because the queue was full
        self.failed = 0  # hits lost because their batch could not be written
        self._queue: deque[Hit] = deque()
        self._drop_lock = threading.Lock()  # only a full queue's hits take it, to count
        self._flush_lock = threading.Lock()  # one batch written at a time
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._salts: dict[date, bytes] = {}  # a day's salt never changes once created
        self._writer = writers.event_writer(db.engine)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def record(
        self,
        kind: EventKind,
        status: int,
        method: str,
        *,
        token_id: str | None,
        subscriber_id: int | None,
        show_id: int | None,
        episode_id: int | None,
        byte_range: str | None,
        user_agent: str,
        ip: str,
    ) -> None:
        queue = self._queue
        if len(queue) >= self.queue_size:
            with self._drop_lock:
                self.dropped += 1
            return
        queue.append(
            Hit(
                at=self.clock(),
                kind=kind,
                status=status,
                method=method,
                token_id=token_id,
                subscriber_id=subscriber_id,
                show_id=show_id,
                episode_id=episode_id,
                byte_range=byte_range,
                user_agent=user_agent,
                ip=ip,
            )
        )

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="podpass-recorder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is left."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stopping.wait(self.flush_seconds):
            self.flush()

    def flush(self) -> int:
        """Write the queued hits in one transaction; how many were written. A batch that
        cannot be written is logged and counted in `failed`, not retried (but once, when the
        database had dropped the connection)."""
        with self._flush_lock:
            queue = self._queue
            # Taken one by one: a hit appended meanwhile stays queued for the next batch.
            batch = [queue.popleft() for _ in range(len(queue))]
            if not batch:
                return 0
            try:
                try:
                    salts = self._write(batch)
                except DBAPIError as error:
                    if not error.connection_invalidated:
                        raise
                    # The database had dropped the connection (a restart): once more, on a
                    # new one.
                    salts = self._write(batch)
            except Exception:
                logger.exception("Lost %d listen events: their batch was not written", len(batch))
                self.failed += len(batch)
                return 0
            self._salts = salts  # only once committed: a rolled-back salt was never shared
            return len(batch)

    def _write(self, batch: list[Hit]) -> dict[date, bytes]:
        """Write the batch in one transaction; the day salts it used."""
        keep = _utc_day(self.clock()) - timedelta(days=1)
        salts = {day: salt for day, salt in self._salts.items() if day >= keep}
        with transaction(self.db.writer) as session:
            owners = _owners(session, _without_owner(batch))
            salt_of = partial(_salt_of, session, salts, keep)
            rows = _rows(batch, salt_of, owners, self._writer.bind_time)
            self._writer.write(session, rows)
        return salts


def _salt_of(session: Session, salts: dict[date, bytes], keep: date, day: date) -> bytes:
    """The day's salt from `salts`, or read (or created) and added to them. Salts from before
    `keep` are deleted then: a hash from then can no longer be matched to an address."""
    salt = salts.get(day)
    if salt is None:
        session.execute(delete(DailySalt).where(DailySalt.day < keep))
        salt = salts[day] = day_salt(session, day)
    return salt


def _without_owner(batch: Iterable[Hit]) -> set[str]:
    """The tokens of hits whose route did not learn the subscriber and show (refusals)."""
    return {hit.token_id for hit in batch if hit.token_id and hit.subscriber_id is None}


def _owners(session: Session, token_ids: set[str]) -> dict[str, TokenOwner]:
    found: dict[str, TokenOwner] = {}
    ids = sorted(token_ids)
    for start in range(0, len(ids), LOOKUP_CHUNK):
        rows = session.execute(
            select(FeedAccess.token_id, FeedAccess.subscriber_id, FeedAccess.show_id).where(
                FeedAccess.token_id.in_(ids[start : start + LOOKUP_CHUNK])
            )
        )
        found.update((token_id, TokenOwner(sid, show)) for token_id, sid, show in rows)
    return found


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _rows(
    batch: Iterable[Hit],
    salt_of: Callable[[date], bytes],
    owners: Mapping[str, TokenOwner],
    bind_time: Callable[[datetime], object],
) -> list[Row]:
    """Each hit as the values of COLUMNS."""
    rows: list[Row] = []
    append = rows.append
    day, salt = None, b""  # looked up as the day changes: hits come in time order
    for (
        at,
        kind,
        status,
        method,
        token_id,
        subscriber_id,
        show_id,
        episode_id,
        byte_range,
        user_agent,
        ip,
    ) in batch:
        at = at.astimezone(UTC)
        if at.date() != day:
            day = at.date()
            salt = salt_of(day)
        user_agent = user_agent[: useragents.MAX_LENGTH]
        agent = useragents.classify(user_agent)
        where = place(ip)
        start, end = first_range(byte_range)
        owner = owners.get(token_id) if token_id and subscriber_id is None else None
        if owner is not None:
            subscriber_id, show_id = owner
        append(
            (
                bind_time(at),
                KIND_VALUES[kind],
                token_id,
                subscriber_id,
                show_id,
                episode_id,
                status,
                method,
                start,
                end,
                user_agent,
                ip_hash(salt, where.hashed),
                where.prefix,
                agent.app,
                agent.device,
                agent.device_category,
                agent.bot,
            )
        )
    return rows
