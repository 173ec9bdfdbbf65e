"""runs remember the cron tick they were queued for, unique per spec

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import andon.store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tick", andon.store.types.UTCDateTime(), nullable=True))
        batch_op.create_index("ux_runs_spec_tick", ["spec_id", "tick"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ux_runs_spec_tick")
        batch_op.drop_column("tick")
