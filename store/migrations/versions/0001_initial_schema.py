"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

import andon.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("data", andon.store.types.JSONText(), nullable=False),
        sa.Column("updated_at", andon.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("category"),
    )
    op.create_table(
        "policy_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("old", andon.store.types.JSONText(), nullable=True),
        sa.Column("new", andon.store.types.JSONText(), nullable=True),
        sa.Column("user", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("ts", andon.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("policy_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_policy_changes_category"), ["category"], unique=False)

    op.create_table(
        "settings",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("value", andon.store.types.JSONText(), nullable=True),
        sa.Column("updated_at", andon.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "specs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("repo", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("base", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("checks", andon.store.types.JSONText(), nullable=False),
        sa.Column("scenarios", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("budget", andon.store.types.JSONText(), nullable=False),
        sa.Column("schedule", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("script", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("front", andon.store.types.JSONText(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", andon.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", andon.store.types.UTCDateTime(), nullable=False),
        sa.Column("last_fired_at", andon.store.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("specs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_specs_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_specs_path"), ["path"], unique=True)

    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("spec_id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", andon.store.types.UTCDateTime(), nullable=False),
        sa.Column("started_at", andon.store.types.UTCDateTime(), nullable=True),
        sa.Column("finished_at", andon.store.types.UTCDateTime(), nullable=True),
        sa.Column("merged_at", andon.store.types.UTCDateTime(), nullable=True),
        sa.Column("repo_path", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("base", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("worktree", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("branch", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("base_commit", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("head_commit", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("merge_commit", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cache_read", sa.Integer(), nullable=False),
        sa.Column("cache_write", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("satisfaction", sa.Float(), nullable=True),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("human_touched", sa.Boolean(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("heartbeat_at", andon.store.types.UTCDateTime(), nullable=True),
        sa.Column("data", andon.store.types.JSONText(), nullable=False),
        sa.ForeignKeyConstraint(
            ["spec_id"],
            ["specs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index("ix_runs_category_created", ["category", "created_at"], unique=False)
        batch_op.create_index("ix_runs_created", ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_runs_spec_id"), ["spec_id"], unique=False)
        batch_op.create_index("ix_runs_status_priority", ["status", "priority", "id"], unique=False)

    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("messages", andon.store.types.JSONText(), nullable=False),
        sa.Column("state", andon.store.types.JSONText(), nullable=False),
        sa.Column("created_at", andon.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "attempt", "turn"),
    )
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkpoints_run_id"), ["run_id"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("ts", andon.store.types.UTCDateTime(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("data", andon.store.types.JSONText(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_run_id", ["run_id", "id"], unique=False)

    op.create_table(
        "exchanges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("request", andon.store.types.JSONText(), nullable=True),
        sa.Column("response", andon.store.types.JSONText(), nullable=True),
        sa.Column("ts", andon.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("exchanges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exchanges_run_id"), ["run_id"], unique=False)

    op.create_table(
        "gates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("detail", andon.store.types.JSONText(), nullable=False),
        sa.Column("created_at", andon.store.types.UTCDateTime(), nullable=False),
        sa.Column("timeout_at", andon.store.types.UTCDateTime(), nullable=True),
        sa.Column("decided_at", andon.store.types.UTCDateTime(), nullable=True),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("gates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gates_run_id"), ["run_id"], unique=False)
        batch_op.create_index("ix_gates_status_created", ["status", "created_at"], unique=False)

    op.create_table(
        "steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("input", andon.store.types.JSONText(), nullable=True),
        sa.Column("output", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("started_at", andon.store.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", andon.store.types.UTCDateTime(), nullable=True),
        sa.Column("data", andon.store.types.JSONText(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_steps_run_id"), ["run_id"], unique=False)

    op.create_table(
        "usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_creation_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_read_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("ts", andon.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("usage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_run_id"), ["run_id"], unique=False)

    # Events are the factory's history: once committed, never changed or removed.
    if op.get_bind().dialect.name == "postgresql":
        # One function refuses both; SQLSTATE 23000 is an integrity violation, as on SQLite.
        op.execute(
            "CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'events are append-only' USING ERRCODE = '23000'; END $$"
        )
        op.execute(
            "CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
            "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()"
        )
        return
    op.execute(
        "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
        "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"
    )
    op.execute(
        "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
        "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_no_update ON events")
        op.execute("DROP TRIGGER IF EXISTS events_no_truncate ON events")
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS events_no_update")
        op.execute("DROP TRIGGER IF EXISTS events_no_delete")
    with op.batch_alter_table("usage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_run_id"))

    op.drop_table("usage")
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_steps_run_id"))

    op.drop_table("steps")
    with op.batch_alter_table("gates", schema=None) as batch_op:
        batch_op.drop_index("ix_gates_status_created")
        batch_op.drop_index(batch_op.f("ix_gates_run_id"))

    op.drop_table("gates")
    with op.batch_alter_table("exchanges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchanges_run_id"))

    op.drop_table("exchanges")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_run_id")

    op.drop_table("events")
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkpoints_run_id"))

    op.drop_table("checkpoints")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_status_priority")
        batch_op.drop_index(batch_op.f("ix_runs_spec_id"))
        batch_op.drop_index("ix_runs_created")
        batch_op.drop_index("ix_runs_category_created")

    op.drop_table("runs")
    with op.batch_alter_table("specs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_specs_path"))
        batch_op.drop_index(batch_op.f("ix_specs_category"))

    op.drop_table("specs")
    op.drop_table("settings")
    with op.batch_alter_table("policy_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_changes_category"))

    op.drop_table("policy_changes")
    op.drop_table("policies")
