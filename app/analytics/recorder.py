"""Stage one of listening analytics: recording, off the request path.

A route hands the `Recorder` each feed poll and audio request as a `Hit`: raw values, put on
a bounded in-memory queue, with no I/O and no lock (when the queue is full the hit is dropped
and counted). A background thread writes the queue as `ListenEvent` rows every few seconds, and
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
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache, partial
from itertools import chain
from typing import NamedTuple, Protocol

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.analytics import useragents
from app.core.clock import Clock
from app.core.db.engine import Database
from app.core.db.session import conflict_insert, transaction
from app.models import DailySalt, EventKind, FeedAccess, ListenEvent

logger = logging.getLogger(__name__)

IP_HASH_LENGTH = 32  # hex digits of HMAC-SHA256 kept: 128 bits
# Token ids looked up per query when the flush fills in a hit's holder.
LOOKUP_CHUNK = 500


# A request as its route saw it: at, kind, status, method, token_id, subscriber_id, show_id,
# episode_id, byte_range (the Range header as sent), user_agent, ip (the client's address).
# subscriber_id and show_id are None when the route did not learn them (a refused token): the
# flush finds them from the token's row. A plain tuple, not a dataclass or a NamedTuple: it is
# built on the request path, where a tuple costs a tenth as much; the flush unpacks it by name.
Hit = tuple[
    datetime,
    EventKind,
    int,
    str,
    str | None,
    int | None,
    int | None,
    int | None,
    str | None,
    str,
    str,
]


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
    statement = conflict_insert(session, DailySalt).values(day=day, salt=salt)
    session.execute(statement.on_conflict_do_nothing(index_elements=["day"]))


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
KIND_VALUES = {kind: kind.value for kind in EventKind}  # Enum.value is a slow property
Row = tuple[object, ...]  # a listen event's values, in COLUMNS' order


class EventWriter(Protocol):
    """Writes a flush's rows in the session's transaction, straight to the driver: no
    SQLAlchemy bind processing, so each value comes in the form the column's type would
    bind (`at` made by `bind_time`; tests read the rows back through the ORM). A write
    releases the GIL once per statement or buffer, never once per row: the flush thread
    must not take it from requests once for each event, as an executemany does."""

    def bind_time(self, at: datetime) -> object:
        """A UTC time, as this driver takes it."""
        ...

    def write(self, session: Session, rows: Sequence[Row]) -> None: ...


def _quoted_names(engine: Engine) -> tuple[str, str]:
    """listen_events and its COLUMNS, quoted for the engine's SQL."""
    quote = engine.dialect.identifier_preparer.quote
    return quote(ListenEvent.__tablename__), ", ".join(quote(name) for name in COLUMNS)


class SqliteWriter:
    """`INSERT INTO listen_events (...) VALUES (...), (...), ...`, CHUNK_ROWS rows a
    statement (sqlite3 has no bulk load)."""

    CHUNK_ROWS = 500  # 8,500 parameters, within SQLite's 32,766

    def __init__(self, engine: Engine) -> None:
        table, names = _quoted_names(engine)
        # Names from the model, every value bound: nothing from a request is in the SQL.
        self.head = f"INSERT INTO {table} ({names}) VALUES "  # noqa: S608
        self.row = f"({', '.join(['?'] * len(COLUMNS))})"
        self.full_chunk = self.sql(self.CHUNK_ROWS)

    def sql(self, rows: int) -> str:
        return self.head + ", ".join([self.row] * rows)

    def bind_time(self, at: datetime) -> str:
        """As SQLAlchemy's SQLite dialect stores a DateTime, which every query on
        listen_events.at compares with as text: so the microseconds are always written.
        (The %-operator: a third of strftime's cost.)"""
        return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031
            at.year,
            at.month,
            at.day,
            at.hour,
            at.minute,
            at.second,
            at.microsecond,
        )

    def write(self, session: Session, rows: Sequence[Row]) -> None:
        connection = session.connection()
        for start in range(0, len(rows), self.CHUNK_ROWS):
            chunk = rows[start : start + self.CHUNK_ROWS]
            sql = self.full_chunk if len(chunk) == self.CHUNK_ROWS else self.sql(len(chunk))
            connection.exec_driver_sql(sql, tuple(chain.from_iterable(chunk)))


class PostgresWriter:
    """`COPY listen_events (...) FROM STDIN` on psycopg's connection: a fifth of the CPU of
    its executemany (and a multi-row INSERT is worse: psycopg parses a long query again in
    Python each time)."""

    def __init__(self, engine: Engine) -> None:
        table, names = _quoted_names(engine)
        self.sql = f"COPY {table} ({names}) FROM STDIN"

    def bind_time(self, at: datetime) -> datetime:
        return at  # psycopg sends a tz-aware datetime as timestamptz itself

    def write(self, session: Session, rows: Sequence[Row]) -> None:
        psycopg_connection = session.connection().connection.driver_connection
        assert psycopg_connection is not None  # the session's connection is open
        with psycopg_connection.cursor() as cursor, cursor.copy(self.sql) as copy:
            for row in rows:
                copy.write_row(row)


def event_writer(engine: Engine) -> EventWriter:
    if engine.dialect.name == "postgresql":
        return PostgresWriter(engine)
    return SqliteWriter(engine)


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
        self._writer = event_writer(db.engine)

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
            (
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
            holders = _holders(session, _without_holder(batch))
            salt_of = partial(_salt_of, session, salts, keep)
            rows = _rows(batch, salt_of, holders, self._writer.bind_time)
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


def _without_holder(batch: Iterable[Hit]) -> set[str]:
    """The tokens of hits whose route did not learn the subscriber and show (refusals)."""
    return {
        token_id
        for _, _, _, _, token_id, subscriber_id, *_ in batch
        if token_id and subscriber_id is None
    }


def _rows(
    batch: Iterable[Hit],
    salt_of: Callable[[date], bytes],
    holders: Mapping[str, Holder],
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
        holder = holders.get(token_id) if token_id and subscriber_id is None else None
        if holder is not None:
            subscriber_id, show_id = holder
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
