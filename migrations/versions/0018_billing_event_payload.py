"""billing events: what re-applying an ignored one needs (its payload), how many times it
came again (duplicates), and an index to list the latest

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_events") as batch:
        batch.add_column(sa.Column("payload", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("duplicates", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch.create_index(batch.f("ix_webhook_events_received_at"), ["received_at"])


def downgrade() -> None:
    # Events kept for re-applying were not recorded before: they go, as they would have.
    op.execute(sa.text("DELETE FROM webhook_events WHERE payload IS NOT NULL"))
    with op.batch_alter_table("webhook_events") as batch:
        batch.drop_index(batch.f("ix_webhook_events_received_at"))
        batch.drop_column("duplicates")
        batch.drop_column("payload")
