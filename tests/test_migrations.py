"""Alembic on the test database (SQLite or PostgreSQL): up, down, and no drift."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import inspect, text

from app.core.db.engine import build_engine
from app.core.db.schema import Base
from tests.conftest import alembic_config, empty_tables


@pytest.fixture(autouse=True)
def rows_left_behind(database_url: str) -> Iterator[None]:
    """These tests write rows straight into the shared test database (no `settings`, whose
    teardown empties it): a webhook endpoint left behind would hear the next test's events."""
    yield
    empty_tables(database_url)


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


ENDPOINTS = sa.table(
    "webhook_endpoints",
    sa.column("id", sa.Integer),
    sa.column("url", sa.String),
    sa.column("events", sa.JSON),
    sa.column("description", sa.String),
    sa.column("secret_id", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
MESSAGES = sa.table(
    "outbox_messages",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("idempotency_key", sa.String),
    sa.column("payload", sa.JSON),
    sa.column("status", sa.String),
    sa.column("attempts", sa.Integer),
    sa.column("next_attempt_at", sa.DateTime(timezone=True)),
    sa.column("last_error", sa.Text),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
DELIVERIES = sa.table(
    "webhook_deliveries",
    sa.column("message_id", sa.Integer),
    sa.column("endpoint_id", sa.Integer),
    sa.column("event", sa.String),
)


def _endpoint(connection: sa.Connection, url: str) -> int:
    now = datetime.now(UTC)
    row = {"url": url, "events": ["subscriber.created"], "description": "", "secret_id": "s"}
    return int(
        connection.execute(
            sa.insert(ENDPOINTS).values(created_at=now, **row).returning(ENDPOINTS.c.id)
        ).scalar_one()
    )


def _delivery(connection: sa.Connection, endpoint_id: int) -> int:
    now = datetime.now(UTC)
    payload = {"endpoint_id": endpoint_id, "event_id": "evt_1", "type": "subscriber.created"}
    message_id = int(
        connection.execute(
            sa.insert(MESSAGES)
            .values(
                kind="webhook",
                idempotency_key=f"key-{endpoint_id}",
                payload=payload | {"created": 0, "subject_id": 1},
                status="pending",
                attempts=1,
                next_attempt_at=now,
                created_at=now,
            )
            .returning(MESSAGES.c.id)
        ).scalar_one()
    )
    connection.execute(
        sa.insert(DELIVERIES).values(
            message_id=message_id, endpoint_id=endpoint_id, event="subscriber.created"
        )
    )
    return message_id


def test_ids_are_never_reused_and_a_deleted_endpoints_deliveries_end_dead(
    database_url: str,
) -> None:
    """Issue 22: SQLite gave a deleted newest endpoint's id to the next one, which then
    received the old endpoint's waiting deliveries. Rebuilding the tables (SQLite's only
    way to add AUTOINCREMENT) keeps every row that refers to them."""
    config = alembic_config(database_url)
    command.downgrade(config, "0016")
    engine = build_engine(database_url)
    try:
        with engine.begin() as connection:
            kept = _endpoint(connection, "https://crm.example.com/hooks")
            kept_message = _delivery(connection, kept)
            gone = _endpoint(connection, "https://old.example.com/hooks")
            gone_message = _delivery(connection, gone)  # waiting when it was deleted
            connection.execute(sa.delete(ENDPOINTS).where(ENDPOINTS.c.id == gone))
        command.upgrade(config, "head")
        with engine.begin() as connection:
            statuses = {
                row.id: row.status
                for row in connection.execute(sa.select(MESSAGES.c.id, MESSAGES.c.status))
            }
            (reason,) = connection.execute(
                sa.select(MESSAGES.c.last_error).where(MESSAGES.c.id == gone_message)
            ).scalars()
            deliveries = connection.execute(sa.select(DELIVERIES.c.message_id)).scalars().all()
            deleted = _endpoint(connection, "https://next.example.com/hooks")
            connection.execute(sa.delete(ENDPOINTS).where(ENDPOINTS.c.id == deleted))
            newest = _endpoint(connection, "https://newest.example.com/hooks")
            tables = "SELECT name, sql FROM sqlite_master WHERE type = 'table'"
            sqlite = engine.dialect.name == "sqlite"
            schema = (
                {row.name: row.sql for row in connection.execute(text(tables))} if sqlite else {}
            )
    finally:
        engine.dispose()
    assert statuses == {kept_message: "pending", gone_message: "dead"}
    assert reason == "not sent: the endpoint was deleted"
    assert deliveries == [kept_message]  # the rebuilt tables' dependants are all there
    assert newest > deleted  # on SQLite, a row deleted before the migration gave its id back
    for table in ("shows", "episodes", "subscribers", "outbox_messages", "webhook_endpoints"):
        assert not schema or "AUTOINCREMENT" in schema[table], table
