"""artwork, chapters, transcripts, people, archives

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("artwork_key", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("chapters", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("transcript", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("transcript_type", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("people", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )

    with op.batch_alter_table("shows", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "itunes_type", sa.String(length=16), server_default="episodic", nullable=False
            )
        )
        batch_op.add_column(sa.Column("feed_limit", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("people", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("shows", schema=None) as batch_op:
        batch_op.drop_column("people")
        batch_op.drop_column("feed_limit")
        batch_op.drop_column("itunes_type")

    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.drop_column("people")
        batch_op.drop_column("transcript_type")
        batch_op.drop_column("transcript")
        batch_op.drop_column("chapters")
        batch_op.drop_column("artwork_key")
