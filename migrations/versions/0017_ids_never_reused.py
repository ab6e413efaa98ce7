"""ids that outlive their rows are never handed out again on SQLite (AUTOINCREMENT), and
webhook deliveries of endpoints deleted before now end `dead`

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL's sequences never hand an id out twice; SQLite, without AUTOINCREMENT, gives
# the next row the largest id in use plus one: a deleted newest row's id, again.
TABLES = ["shows", "episodes", "subscribers", "outbox_messages", "webhook_endpoints"]

endpoints = sa.table("webhook_endpoints", sa.column("id", sa.Integer))
messages = sa.table(
    "outbox_messages",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("status", sa.String),
    sa.column("payload", sa.JSON),
    sa.column("last_error", sa.Text),
)


def _rebuild(*, autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    # A delivery still waiting for an endpoint deleted before now would go to the next
    # endpoint given its id.
    connection = op.get_bind()
    kept = set(connection.scalars(sa.select(endpoints.c.id)))
    waiting = connection.execute(
        sa.select(messages.c.id, messages.c.payload).where(
            messages.c.kind == "webhook", messages.c.status.in_(["pending", "sending"])
        )
    ).all()
    orphans = [row.id for row in waiting if row.payload.get("endpoint_id") not in kept]
    if orphans:
        connection.execute(
            sa.update(messages)
            .where(messages.c.id.in_(orphans))
            .values(status="dead", last_error="not sent: the endpoint was deleted")
        )
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
