"""open_item: open follow-ups and escalations kept with every append; care_session.projected_seq

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 12:00:00+00:00

Sessions recorded before this revision have projected_seq 0 and are projected from their log the
first time a screen lists their open items (once; after that every append keeps them current).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("care_session") as batch:
        batch.add_column(sa.Column("projected_seq", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "open_item",
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("item_id", sa.String(length=40), nullable=False),
        sa.Column("room_id", sa.String(length=40), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["care_session.id"]),
        sa.PrimaryKeyConstraint("session_id", "kind", "item_id"),
    )
    op.create_index("ix_open_item_room_id", "open_item", ["room_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_open_item_room_id", table_name="open_item")
    op.drop_table("open_item")
    with op.batch_alter_table("care_session") as batch:
        batch.drop_column("projected_seq")
