"""Alembic on the test database (SQLite or PostgreSQL): up, down, and no drift."""

from alembic import command
from sqlalchemy import inspect

from app.db import Base, build_engine
from tests.conftest import alembic_config


def table_names(url: str) -> set[str]:
    engine = build_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_downgrade_to_empty_and_back_without_drift(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "base")
    assert table_names(database_url) == set()
    command.upgrade(config, "head")
    assert table_names(database_url) == {t.name for t in Base.metadata.sorted_tables}
    assert "feed_access" in table_names(database_url)
    command.check(config)  # raises if the models and the migrations disagree
