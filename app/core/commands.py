"""What every `podpass` command shares: the settings, a database it opens and closes, and
how it says that it failed (a message and status 1, with nothing written)."""

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from app.core.config import DatabaseSettings
from app.core.db.engine import Database, build_engine


@contextmanager
def database(url: str | None = None) -> Iterator[Database]:
    """The database of the settings (DATABASE_URL), or of `url`; closed when done."""
    db = Database(build_engine(url or DatabaseSettings().database_url))
    try:
        yield db
    finally:
        db.engine.dispose()


def commands(help_text: str) -> typer.Typer:
    """A group of commands under one name (`podpass users ...`)."""
    return typer.Typer(
        help=help_text, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
    )
