from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import event

from app import models  # noqa: F401  (registers every table on Base.metadata)
from app.core.config import DatabaseSettings
from app.core.db.engine import build_engine
from app.core.db.schema import Base, UTCDateTime

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

url = config.get_main_option("sqlalchemy.url") or DatabaseSettings().database_url


def render_item(kind: str, obj: object, _context: object) -> str | bool:
    """Autogenerate writes plain SQLAlchemy types, so revisions never import the app."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    context.configure(
        url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def _foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")


def run_migrations_online() -> None:
    engine = build_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        # SQLite changes a table by copying it into a new one and dropping the old: with
        # foreign keys on, the drop would delete the rows that refer to it (ON DELETE
        # CASCADE). So, as SQLite's manual says, they are off while migrating, and checked
        # before the migration commits.
        event.listen(engine, "connect", _foreign_keys_off)
    with engine.connect() as connection:
        context.configure(
            render_item=render_item,
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"The migration broke foreign keys: {broken[:10]}")
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
