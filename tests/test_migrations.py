"""Alembic on the test database (SQLite or PostgreSQL): up, down, and no drift."""

from alembic import command
from sqlalchemy import inspect, text

from app.core.db.engine import build_engine
from app.core.db.schema import Base
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


def test_one_unresolved_alert_per_url_keeps_the_newest_of_old_duplicates(
    database_url: str,
) -> None:
    """Before migration 0007, two detections at once could open two alerts for one URL."""
    config = alembic_config(database_url)
    command.downgrade(config, "0006")
    engine = build_engine(database_url)
    alert = (
        "INSERT INTO sharing_alerts (token_id, subscriber_id, show_id, status, opened_at, "
        "evidence) VALUES (:token, 1, 1, :status, '2026-11-01 00:00:00+00:00', '{}')"
    )
    try:
        with engine.begin() as connection:
            for token, status in [
                ("shared", "open"),
                ("shared", "acknowledged"),
                ("shared", "rotated"),
                ("alone", "open"),
            ]:
                connection.execute(text(alert), {"token": token, "status": status})
        command.upgrade(config, "head")
        with engine.connect() as connection:
            kept = connection.execute(
                text("SELECT id, token_id, status FROM sharing_alerts ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    assert [(token, status) for _, token, status in kept] == [
        ("shared", "acknowledged"),
        ("shared", "rotated"),
        ("alone", "open"),
    ]
