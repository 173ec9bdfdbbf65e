"""usage rows carry their run's category, indexed with the time, for spend today

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Portable SQL only (SQLite and PostgreSQL run the same revisions): the column is added
with a default, filled from the runs, then indexed.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category", sqlmodel.sql.sqltypes.AutoString(),
                                      nullable=False, server_default=""))
    op.execute("UPDATE usage SET category = COALESCE("
               "(SELECT runs.category FROM runs WHERE runs.id = usage.run_id), '')")
    with op.batch_alter_table("usage", schema=None) as batch_op:
        batch_op.create_index("ix_usage_category_ts", ["category", "ts", "model", "cost_usd"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usage", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_category_ts")
        batch_op.drop_column("category")
