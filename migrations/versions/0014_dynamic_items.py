"""dynamic items and personal feeds: welcome items, personal titles, subscribers' names and
plans, and each plan's back-catalogue rule

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "welcomes",
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("audio_key", sa.String(length=512), nullable=True),
        sa.Column("audio_mime", sa.String(length=64), nullable=True),
        sa.Column("audio_size", sa.BigInteger(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["show_id"], ["shows.id"], name=op.f("fk_welcomes_show_id_shows"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("show_id", name=op.f("pk_welcomes")),
    )
    with op.batch_alter_table("shows") as batch:
        batch.add_column(
            sa.Column("personal_title", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("plans") as batch:
        batch.add_column(
            sa.Column("back_catalogue", sa.String(length=16), server_default="all", nullable=False)
        )
        batch.add_column(sa.Column("back_catalogue_latest", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("back_catalogue_days", sa.Integer(), nullable=True))
        batch.create_check_constraint(
            "back_catalogue", "back_catalogue IN ('all', 'latest', 'since_joining')"
        )
        batch.create_check_constraint(
            "back_catalogue_parameter",
            "(back_catalogue = 'latest') = (back_catalogue_latest IS NOT NULL) AND "
            "(back_catalogue = 'since_joining') = (back_catalogue_days IS NOT NULL)",
        )
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("name", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("plan_id", sa.String(length=255), nullable=True))
        batch.create_index(op.f("ix_subscribers_plan_id"), ["plan_id"])
        batch.create_foreign_key(
            op.f("fk_subscribers_plan_id_plans"), "plans", ["plan_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_constraint(op.f("fk_subscribers_plan_id_plans"), type_="foreignkey")
        batch.drop_index(op.f("ix_subscribers_plan_id"))
        batch.drop_column("plan_id")
        batch.drop_column("name")
    with op.batch_alter_table("plans") as batch:
        batch.drop_constraint(op.f("ck_plans_back_catalogue_parameter"), type_="check")
        batch.drop_constraint(op.f("ck_plans_back_catalogue"), type_="check")
        batch.drop_column("back_catalogue_days")
        batch.drop_column("back_catalogue_latest")
        batch.drop_column("back_catalogue")
    with op.batch_alter_table("shows") as batch:
        batch.drop_column("personal_title")
    op.drop_table("welcomes")
