"""Raw queries for the hot paths."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, Select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection

R = TypeVar("R")


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
