"""usage and exchanges say who asked: agent, plan or judge

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("usage", "exchanges"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(),
                                          nullable=False, server_default="agent"))


def downgrade() -> None:
    for table in ("exchanges", "usage"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("purpose")
