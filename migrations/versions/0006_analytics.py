"""listening analytics: raw events, daily salts, downloads, sharing alerts; audio offset

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("episodes") as batch:
        batch.add_column(
            sa.Column("audio_offset", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
    op.create_table(
        "listen_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("show_id", sa.Integer(), nullable=True),
        sa.Column("episode_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("range_start", sa.BigInteger(), nullable=True),
        sa.Column("range_end", sa.BigInteger(), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=False),
        sa.Column("ip_hash", sa.String(length=32), nullable=False),
        sa.Column("ip_prefix", sa.String(length=64), nullable=False),
        sa.Column("app", sa.String(length=128), nullable=True),
        sa.Column("device", sa.String(length=128), nullable=True),
        sa.Column("device_category", sa.String(length=32), nullable=True),
        sa.Column("bot", sa.Boolean(), nullable=False),
        sa.CheckConstraint("kind IN ('feed', 'audio')", name=op.f("ck_listen_events_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listen_events")),
    )
    op.create_index(op.f("ix_listen_events_at"), "listen_events", ["at"])
    op.create_index(op.f("ix_listen_events_subscriber_id"), "listen_events", ["subscriber_id"])
    op.create_table(
        "daily_salts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_daily_salts")),
    )
    op.create_table(
        "downloads",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("ip_hash", sa.String(length=32), nullable=False),
        sa.Column("user_agent", sa.String(length=512), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("ip_prefix", sa.String(length=64), nullable=False),
        sa.Column("app", sa.String(length=128), nullable=True),
        sa.Column("device", sa.String(length=128), nullable=True),
        sa.Column("device_category", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_downloads")),
        sa.UniqueConstraint(
            "day", "episode_id", "ip_hash", "user_agent", name=op.f("uq_downloads_day")
        ),
    )
    for column in ("token_id", "subscriber_id"):
        op.create_index(op.f(f"ix_downloads_{column}"), "downloads", [column])
    op.create_index(op.f("ix_downloads_show_id"), "downloads", ["show_id", "day"])
    op.create_index(op.f("ix_downloads_episode_id"), "downloads", ["episode_id", "day"])
    op.create_table(
        "sharing_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'acknowledged', 'rotated')", name=op.f("ck_sharing_alerts_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_alerts")),
    )
    op.create_index(op.f("ix_sharing_alerts_token_id"), "sharing_alerts", ["token_id"])
    op.create_index(op.f("ix_sharing_alerts_subscriber_id"), "sharing_alerts", ["subscriber_id"])


def downgrade() -> None:
    op.drop_table("sharing_alerts")
    op.drop_table("downloads")
    op.drop_table("daily_salts")
    op.drop_table("listen_events")
    with op.batch_alter_table("episodes") as batch:
        batch.drop_column("audio_offset")
