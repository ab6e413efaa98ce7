"""a covering index for the feeds' episode listing

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["show_id", "status", "published_at", "id", "updated_at", "free"]


def upgrade() -> None:
    op.create_index("ix_episodes_listing", "episodes", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_episodes_listing", table_name="episodes")
