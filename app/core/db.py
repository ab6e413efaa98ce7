"""Engine, sessions and the request-scoped transaction."""

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request
from sqlalchemy import DateTime, Engine, MetaData, Select, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 30_000
_IMMEDIATE = "podpass_immediate"
logger = logging.getLogger(__name__)
R = TypeVar("R")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware timestamps on every backend (SQLite keeps no offset, so store UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Podpass stores only tz-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# Id columns are Integer: 32-bit on PostgreSQL, so no row has a larger id.
MAX_ROW_ID = 2**31 - 1

Clock = Callable[[], datetime]  # "now", injected where something may be due


def _configure_sqlite(engine: Engine) -> None:
    """WAL so readers never wait for a writer; writers take the lock up front (BEGIN
    IMMEDIATE) and wait for each other instead of failing with 'database is locked'."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def build_engine(url: str) -> Engine:
    # As many pooled connections as request threads can run at once (anyio's default is 40):
    # a connection opened past the pool is closed again after one use.
    # hide_parameters: error messages and logs must not carry subscribers' emails.
    options: dict[str, Any] = {"pool_size": 40, "max_overflow": 10, "hide_parameters": True}
    if url.startswith("sqlite"):
        timeout = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_engine(url, connect_args=timeout, **options)
        _configure_sqlite(engine)
        return engine
    # Last in, first out: the connections in use stay few and warm, and only those left idle
    # past IDLE_PING_SECONDS (below) cost a ping when they are next used.
    engine = create_engine(url, pool_use_lifo=True, **options)
    _ping_when_idle(engine)
    return engine


# A pooled PostgreSQL connection idle this long is pinged before it is used (a round trip),
# so that one the server dropped meanwhile (a restart, an idle timeout) is replaced unseen.
# A busy one is not: SQLAlchemy's pre-ping would add a round trip to every feed poll. One
# that fails in use is found out there: the pool's connections are all replaced, HotQuery
# runs its query again, and a session's request answers 503 once.
IDLE_PING_SECONDS = 5.0
_CHECKED_IN = "podpass_checked_in"


def _ping_when_idle(engine: Engine) -> None:
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get(_CHECKED_IN)
        if checked_in is None or time.monotonic() - checked_in < IDLE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            # The pool drops this connection and connects anew in its place.
            raise DisconnectionError(f"a pooled connection was dropped: {error}") from error


@dataclass
class Database:
    engine: Engine
    reader: sessionmaker[Session] = field(init=False)
    writer: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.reader = sessionmaker(self.engine, expire_on_commit=False)
        self.writer = sessionmaker(
            self.engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False
        )


class HotQuery(Generic[R]):
    """A SELECT compiled once for the engine's dialect and run straight on a pooled DBAPI
    connection, with each column's own result processing, answering a typed row. The
    per-request reads of the feed and audio endpoints use it: it skips SQLAlchemy's
    execution machinery, about 60 µs a query on SQLite against about 10 µs."""

    def __init__(
        self, engine: Engine, statement: Select[*tuple[Any, ...]], row: Callable[..., R]
    ) -> None:
        self.engine = engine
        self.row = row
        dialect = engine.dialect
        # One SELECT is atomic on its own. On PostgreSQL, running it outside a transaction
        # saves psycopg's BEGIN and the pool's ROLLBACK: two of three round trips to the
        # server. (Python's sqlite3 opens no transaction for a SELECT.)
        self.autocommit = dialect.name == "postgresql"
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.positions = compiled.positiontup
        self.processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        ]

    def plan(self, *, as_if_large: bool = False, **params: object) -> list[str]:
        """How the database runs this query for these parameters: its EXPLAIN, a line per
        step (`python -m bench.scale` prints it; a test checks that each step uses an index).
        `as_if_large`: PostgreSQL is told not to scan whole tables, as it would not if they
        were large (a scan of a few rows is its right choice, and would hide a missing
        index); SQLite plans by the indexes alone."""
        sqlite = self.engine.dialect.name == "sqlite"
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            if as_if_large and not sqlite:
                cursor.execute("SET LOCAL enable_seqscan = off")  # undone as the pool rolls back
            explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            cursor.execute(explain + self.sql, self._args(params))
            lines = [str(row[-1]) for row in cursor.fetchall()]
            cursor.close()
        finally:
            connection.close()
        return lines

    def _fetch(self, args: Sequence[object] | Mapping[str, object], *, again: bool = False) -> Any:
        dialect = self.engine.dialect
        connection = None
        try:
            connection = self.engine.raw_connection()
            if self.autocommit:
                connection.driver_connection.autocommit = True  # type: ignore[union-attr]
            cursor = connection.cursor()
            cursor.execute(self.sql, args)
            found = cursor.fetchone()
            cursor.close()
            return found
        except dialect.loaded_dbapi.Error as error:
            driver = connection.driver_connection if connection is not None else None
            dropped = connection is not None and dialect.is_disconnect(error, driver, None)
            if connection is not None and dropped:
                # The server went away, so the pool's other connections are gone too: all
                # of them are replaced as they are next checked out. (SQLAlchemy's own
                # Connection does this on a disconnect; its raw connections do not.)
                self.engine.pool._invalidate(connection, error)
                if not again:
                    raise _Dropped from error
            # As SQLAlchemy would raise it: its handlers answer 503 for an outage.
            raise DBAPIError.instance(
                self.sql,
                args,
                error,
                dialect.loaded_dbapi.Error,
                hide_parameters=True,
                connection_invalidated=dropped,
                dialect=dialect,
            ) from error
        finally:
            if connection is not None:
                self._release(connection)

    def _release(self, connection: PoolProxiedConnection) -> None:
        driver = connection.driver_connection
        try:  # (a connection the server dropped takes no setting, and needs none)
            if self.autocommit and driver is not None and not driver.closed:
                driver.autocommit = False
        finally:
            connection.close()  # back to the pool (nothing to roll back)

    def _args(self, params: dict[str, object]) -> Sequence[object] | Mapping[str, object]:
        return [params[name] for name in self.positions] if self.positions else params

    def one_or_none(self, **params: object) -> R | None:
        args = self._args(params)
        try:
            found = self._fetch(args)
        except _Dropped:  # the server had closed it: once more, on a new connection
            found = self._fetch(args, again=True)
        if found is None:
            return None
        return self.row(
            *(
                value if process is None else process(value)
                for value, process in zip(found, self.processors, strict=True)
            )
        )


class _Dropped(Exception):
    """HotQuery's connection had been closed by the server."""


def conflict_insert(session: Session, model: type[Base]) -> sqlite.Insert | postgresql.Insert:
    """An INSERT of `model` that can say ON CONFLICT, in the session's database's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run `action` once the transaction has committed (e.g. delete a stored object)."""
    session.info.setdefault("after_commit", []).append(action)


def after_rollback(session: Session, action: Callable[[], None]) -> None:
    """Run `action` if the transaction fails (e.g. remove an object it had just stored)."""
    session.info.setdefault("after_rollback", []).append(action)


def _run(session: Session, hook: str) -> None:
    for action in session.info.pop(hook, []):
        try:
            action()
        except Exception:
            # The reconcile command finds whatever a failed clean-up leaves behind.
            logger.exception("clean-up after %s failed", hook)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back (and undo side effects) on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        _run(session, "after_rollback")
        raise
    else:
        _run(session, "after_commit")
    finally:
        session.close()


def get_session(request: Request) -> Iterator[Session]:
    db: Database = request.app.state.db
    factory = db.reader if request.method in ("GET", "HEAD") else db.writer
    with transaction(factory) as session:
        yield session


# scope="function": the transaction ends before the response goes out.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
