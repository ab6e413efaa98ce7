"""one unresolved sharing alert per feed URL

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNRESOLVED = sa.text("status IN ('open', 'acknowledged')")


def upgrade() -> None:
    # Detections that ran at once before this index could open two alerts for one URL: keep
    # the newest (its evidence is the latest), so the index can be built.
    op.execute(
        """
        DELETE FROM sharing_alerts
        WHERE status IN ('open', 'acknowledged')
          AND id NOT IN (
            SELECT max(id) FROM sharing_alerts
            WHERE status IN ('open', 'acknowledged')
            GROUP BY token_id
          )
        """
    )
    op.create_index(
        "uq_sharing_alerts_unresolved_token_id",
        "sharing_alerts",
        ["token_id"],
        unique=True,
        sqlite_where=UNRESOLVED,
        postgresql_where=UNRESOLVED,
    )


def downgrade() -> None:
    op.drop_index("uq_sharing_alerts_unresolved_token_id", table_name="sharing_alerts")
