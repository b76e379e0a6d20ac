"""care_session.head_seq and head_hash: the log's head, so removing events from its end shows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:20:00+00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table("care_session") as batch:
        batch.add_column(sa.Column("head_seq", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("head_hash", sa.String(length=64), nullable=False, server_default=GENESIS))
    # Sessions recorded before this revision take their head from their log as it stands.
    op.execute(
        f"""
        UPDATE care_session SET
          head_seq = COALESCE((SELECT MAX(e.seq) FROM event e WHERE e.session_id = care_session.id), 0),
          head_hash = COALESCE(
            (SELECT e.hash FROM event e WHERE e.session_id = care_session.id
              AND e.seq = (SELECT MAX(e2.seq) FROM event e2 WHERE e2.session_id = care_session.id)),
            '{GENESIS}')
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("care_session") as batch:
        batch.drop_column("head_hash")
        batch.drop_column("head_seq")
