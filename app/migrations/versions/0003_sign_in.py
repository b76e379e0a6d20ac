"""sign_in: server-side record of each sign-in, so signing out revokes the cookie

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 15:15:00+00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sign_in_username", "sign_in", ["username"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sign_in_username", table_name="sign_in")
    op.drop_table("sign_in")
