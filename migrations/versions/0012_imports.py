"""imported catalogue, subscribers and old URLs

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # An imported episode keeps its old host's GUID, which may be a long URL.
    with op.batch_alter_table("episodes") as batch:
        batch.alter_column("guid", existing_type=sa.String(length=64), type_=sa.String(length=255))
    op.add_column("shows", sa.Column("previous_feed_url", sa.String(length=2048), nullable=True))
    op.create_table(
        "old_feed_urls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=2048), nullable=False),
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("feed_access_id", sa.Integer(), nullable=True),
        sa.Column("token_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["show_id"],
            ["shows.id"],
            name=op.f("fk_old_feed_urls_show_id_shows"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["feed_access_id"],
            ["feed_access.id"],
            name=op.f("fk_old_feed_urls_feed_access_id_feed_access"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_old_feed_urls")),
        sa.UniqueConstraint("path", "host", name=op.f("uq_old_feed_urls_path")),
    )
    op.create_index(op.f("ix_old_feed_urls_feed_access_id"), "old_feed_urls", ["feed_access_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_old_feed_urls_feed_access_id"), table_name="old_feed_urls")
    op.drop_table("old_feed_urls")
    op.drop_column("shows", "previous_feed_url")
    with op.batch_alter_table("episodes") as batch:
        batch.alter_column("guid", existing_type=sa.String(length=255), type_=sa.String(length=64))
