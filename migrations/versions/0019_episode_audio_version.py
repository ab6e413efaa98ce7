"""episodes.audio_version: bumped when an episode's audio is replaced, so that its
enclosure URL changes (apps keep a download by its URL) while its GUID stays

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Not a batch: SQLite adds a column in place, and a rebuild would drop 0017's AUTOINCREMENT.
    op.add_column(
        "episodes",
        sa.Column("audio_version", sa.Integer(), nullable=False, server_default=sa.text("1")),
    )


def downgrade() -> None:
    # SQLite drops the column by rebuilding the table: keep 0017's AUTOINCREMENT.
    with op.batch_alter_table("episodes", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("audio_version")
