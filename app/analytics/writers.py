"""Listen events as rows (COLUMNS), and the fastest way each database takes a batch of them."""

from collections.abc import Sequence
from datetime import datetime
from itertools import chain
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.models import EventKind, ListenEvent

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
