"""native billing providers: provider price/tier ids per plan, and when a subscriber's
payment became past due

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plan_external_ids",
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("plan_id", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_plan_external_ids_plan_id_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("provider", "external_id", name=op.f("pk_plan_external_ids")),
    )
    op.create_index(op.f("ix_plan_external_ids_plan_id"), "plan_external_ids", ["plan_id"])
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("past_due_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("past_due_since")
    op.drop_index(op.f("ix_plan_external_ids_plan_id"), table_name="plan_external_ids")
    op.drop_table("plan_external_ids")
