"""readiness: each run's evidence fingerprint, shadow decisions at review points

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import andon.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("category", AutoString(), nullable=False),
        sa.Column("spec_id", sa.Integer(), nullable=True),
        sa.Column("fingerprint", AutoString(), nullable=False),
        sa.Column("parts", andon.store.types.JSONText(), nullable=False),
        sa.Column("conflicts", sa.Integer(), nullable=False),
        sa.Column("created_at", andon.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("run_id"),
    )
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_category_run", ["category", "run_id"], unique=False)
    op.create_table(
        "shadow_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("category", AutoString(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("gate_id", sa.Integer(), nullable=True),
        sa.Column("verdict", AutoString(), nullable=False),
        sa.Column("rules", andon.store.types.JSONText(), nullable=False),
        sa.Column("satisfaction", sa.Float(), nullable=True),
        sa.Column("steered", sa.Boolean(), nullable=False),
        sa.Column("created_at", andon.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["gate_id"], ["gates.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "attempt"),
    )
    with op.batch_alter_table("shadow_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_shadow_decisions_category_run", ["category", "run_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shadow_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_shadow_decisions_category_run")
    op.drop_table("shadow_decisions")
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_category_run")
    op.drop_table("evidence")
