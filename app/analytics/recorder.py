"""Stage one of listening analytics: recording, off the request path.

A route hands the `Recorder` each feed poll and audio request as a `Hit`: raw values, put on
a bounded in-memory queue, with no I/O (when the queue is full the hit is dropped and
counted). A background thread writes the queue as `ListenEvent` rows every few seconds, and
once more at shutdown, in one transaction: there it classifies the user agent, cuts the IP
to its network prefix and hashes it under the day's salt, so no raw IP reaches the database.
A crash loses what was queued since the last write: one batch at most.
"""

import hashlib
import hmac
import ipaddress
import logging
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app import useragents
from app.db import Clock, Database, transaction
from app.models import DailySalt, EventKind, FeedAccess, ListenEvent

logger = logging.getLogger(__name__)

IP_HASH_LENGTH = 32  # hex digits of HMAC-SHA256 kept: 128 bits
# Token ids looked up per query when the flush fills in a hit's holder.
LOOKUP_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Hit:
    """A request as its route saw it. `subscriber_id` and `show_id` are None when the route
    did not learn them (a refused token): the flush finds them from the token's row.
    `byte_range` is the Range header as sent; `ip` the client's address."""

    at: datetime
    kind: EventKind
    status: int
    method: str
    token_id: str | None
    subscriber_id: int | None
    show_id: int | None
    episode_id: int | None
    byte_range: str | None
    user_agent: str
    ip: str


class Place(NamedTuple):
    """Where a request came from, as stored: what is hashed, and the network prefix."""

    hashed: str  # the IPv4 address, or the IPv6 address cut to its /64
    prefix: str  # "203.0.113.0/24", "2001:db8:1::/48"; "" for a client that is not an IP


class Holder(NamedTuple):
    subscriber_id: int
    show_id: int


@lru_cache(maxsize=65536)  # apps poll from the same few addresses all day
def place(ip: str) -> Place:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:  # no client address (a Unix socket), or a test client's name
        return Place(ip, "")
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is None:
            home = ipaddress.IPv6Network((address, 64), strict=False)
            site = ipaddress.IPv6Network((address, 48), strict=False)
            return Place(str(home.network_address), str(site))
        address = address.ipv4_mapped  # ::ffff:203.0.113.7, from a dual-stack socket
    return Place(str(address), str(ipaddress.IPv4Network((address, 24), strict=False)))


@lru_cache(maxsize=65536)  # an app fetches an episode in many requests from one address
def ip_hash(salt: bytes, hashed: str) -> str:
    return hmac.digest(salt, hashed.encode(), hashlib.sha256).hex()[:IP_HASH_LENGTH]


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


def _insert_or_ignore(session: Session, day: date, salt: str) -> None:
    """Create the day's salt unless a worker already has: on both databases a concurrent
    insert of the same day waits for the other and then does nothing."""
    dialect = session.get_bind().dialect.name
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(DailySalt)
    session.execute(
        statement.values(day=day, salt=salt).on_conflict_do_nothing(index_elements=["day"])
    )


def day_salt(session: Session, day: date) -> bytes:
    """The day's salt, shared by every worker through the table (created on first use)."""
    _insert_or_ignore(session, day, secrets.token_hex(32))
    salt = session.scalars(select(DailySalt.salt).where(DailySalt.day == day)).one()
    return bytes.fromhex(salt)


def _holders(session: Session, token_ids: set[str]) -> dict[str, Holder]:
    found: dict[str, Holder] = {}
    ids = sorted(token_ids)
    for start in range(0, len(ids), LOOKUP_CHUNK):
        rows = session.execute(
            select(FeedAccess.token_id, FeedAccess.subscriber_id, FeedAccess.show_id).where(
                FeedAccess.token_id.in_(ids[start : start + LOOKUP_CHUNK])
            )
        )
        found.update((token_id, Holder(sid, show)) for token_id, sid, show in rows)
    return found


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


# The columns a flush writes, in the order `_rows` gives them.
COLUMNS = (
    "at",
    "kind",
    "token_id",
    "subscriber_id",
    "show_id",
    "episode_id",
    "status",
    "method",
    "range_start",
    "range_end",
    "user_agent",
    "ip_hash",
    "ip_prefix",
    "app",
    "device",
    "device_category",
    "bot",
)
Row = tuple[Any, ...]


class BatchInsert:
    """The INSERT of listen events, compiled once for the engine's dialect and run with the
    driver's executemany, each column's bind processing applied here: a third of the cost of
    SQLAlchemy's executemany, which the flush thread would otherwise take from requests."""

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        table = ListenEvent.__table__.columns
        compiled = insert(ListenEvent).compile(dialect=dialect, column_keys=list(COLUMNS))
        self.sql = str(compiled)
        # Positional drivers (sqlite3) bind in the SQL's order; named ones (psycopg) by name.
        names = compiled.positiontup
        self.order = [COLUMNS.index(name) for name in names] if names else None
        processors = [
            (index, table[name].type.dialect_impl(dialect).bind_processor(dialect))
            for index, name in enumerate(COLUMNS)
        ]
        self.processors = [(index, process) for index, process in processors if process]

    def run(self, session: Session, rows: Iterable[Row]) -> None:
        processed: list[Row] = []
        for row in rows:
            if self.processors:
                values = list(row)
                for index, process in self.processors:
                    values[index] = process(values[index])
                row = tuple(values)
            processed.append(row)
        order = self.order
        params: Sequence[Any] = (
            [tuple(row[i] for i in order) for row in processed]
            if order is not None
            else [dict(zip(COLUMNS, row, strict=True)) for row in processed]
        )
        session.connection().exec_driver_sql(self.sql, params)


class Recorder:
    """The bounded queue of hits and the thread that writes them. `record` never blocks on
    I/O: it takes a lock held only to append or to swap the queue out."""

    def __init__(
        self, db: Database, clock: Clock, *, queue_size: int, flush_seconds: float
    ) -> None:
        self.db = db
        self.clock = clock
        self.queue_size = queue_size
        self.flush_seconds = flush_seconds
        self.dropped = 0  # hits refused because the queue was full
        self.failed = 0  # hits lost because their batch could not be written
        self._queue: list[Hit] = []
        self._queue_lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one batch written at a time
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._salts: dict[date, bytes] = {}  # a day's salt never changes once created
        self._insert = BatchInsert(db.engine)

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
        hit = Hit(
            self.clock(),
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
        )
        with self._queue_lock:
            if len(self._queue) >= self.queue_size:
                self.dropped += 1
                return
            self._queue.append(hit)

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
        cannot be written is logged and counted in `failed`, never retried."""
        with self._flush_lock:
            with self._queue_lock:
                batch, self._queue = self._queue, []
            if not batch:
                return 0
            try:
                with transaction(self.db.writer) as session:
                    salts = self._salts_for(session, {_utc_day(hit.at) for hit in batch})
                    holders = _holders(
                        session,
                        {h.token_id for h in batch if h.token_id and h.subscriber_id is None},
                    )
                    self._insert.run(session, _rows(batch, salts, holders))
            except Exception:
                logger.exception("Lost %d listen events: their batch was not written", len(batch))
                self.failed += len(batch)
                return 0
            self._salts = salts  # only once committed: a rolled-back salt was never shared
            return len(batch)

    def _salts_for(self, session: Session, days: set[date]) -> dict[date, bytes]:
        """The salts of `days`, creating any that is missing. Salts from before yesterday
        are deleted: a hash from then can no longer be matched to an address."""
        keep = _utc_day(self.clock()) - timedelta(days=1)
        salts = {day: salt for day, salt in self._salts.items() if day >= keep}
        missing = days - salts.keys()
        if missing:
            session.execute(delete(DailySalt).where(DailySalt.day < keep))
            salts |= {day: day_salt(session, day) for day in missing}
        return salts


def _rows(
    batch: Iterable[Hit], salts: Mapping[date, bytes], holders: Mapping[str, Holder]
) -> Iterable[Row]:
    """Each hit as a row of COLUMNS."""
    for hit in batch:
        user_agent = hit.user_agent[: useragents.MAX_LENGTH]
        agent = useragents.classify(user_agent)
        where = place(hit.ip)
        start, end = first_range(hit.byte_range)
        subscriber_id, show_id = hit.subscriber_id, hit.show_id
        holder = holders.get(hit.token_id) if hit.token_id and subscriber_id is None else None
        if holder is not None:
            subscriber_id, show_id = holder
        yield (
            hit.at,
            hit.kind.value,
            hit.token_id,
            subscriber_id,
            show_id,
            hit.episode_id,
            hit.status,
            hit.method,
            start,
            end,
            user_agent,
            ip_hash(salts[_utc_day(hit.at)], where.hashed),
            where.prefix,
            agent.app,
            agent.device,
            agent.device_category,
            agent.bot,
        )
