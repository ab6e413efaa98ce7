"""The engine, tuned for each database: SQLite in WAL with writers queued up front, and
PostgreSQL's pool with idle connections pinged; a reader and a writer session factory."""

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
_IMMEDIATE = "podpass_immediate"


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
