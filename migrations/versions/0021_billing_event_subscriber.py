"""billing events: the subscriber each concerned, so their page lists their events

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Events recorded before this name no one: their subscriber was never stored.
    with op.batch_alter_table("webhook_events") as batch:
        batch.add_column(sa.Column("subscriber_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_webhook_events_subscriber_id"), ["subscriber_id"])
        batch.create_foreign_key(
            batch.f("fk_webhook_events_subscriber_id_subscribers"),
            "subscribers",
            ["subscriber_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_events") as batch:
        batch.drop_constraint(
            batch.f("fk_webhook_events_subscriber_id_subscribers"), type_="foreignkey"
        )
        batch.drop_index(batch.f("ix_webhook_events_subscriber_id"))
        batch.drop_column("subscriber_id")
