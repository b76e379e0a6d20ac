"""app_user.pin_hash for self check-in on a shared tablet; access_log for sign-ins and chart reads

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 11:20:00+00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("pin_hash", sa.String(length=255), nullable=True))
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("session_id", sa.String(length=40), nullable=True),
        sa.Column("participant_id", sa.String(length=40), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_access_log_at", "access_log", ["at"], unique=False)
    op.create_index("ix_access_log_username", "access_log", ["username"], unique=False)
    op.create_index("ix_access_log_participant_id", "access_log", ["participant_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_access_log_participant_id", table_name="access_log")
    op.drop_index("ix_access_log_username", table_name="access_log")
    op.drop_index("ix_access_log_at", table_name="access_log")
    op.drop_table("access_log")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("pin_hash")
