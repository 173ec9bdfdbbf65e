"""Policies in the store: read, save with an audit row per changed field, import/export,
seed the defaults, and the track record of stored runs.

The pure modules (policy, files, rules, record) decide; this one only moves data between
them and the `policies` / `policy_changes` tables. Every save is one short write
transaction; a policy file is parsed and validated completely before anything is
written, so an invalid file changes nothing.

Audit rows (`PolicyChange`): one per changed top-level field (``budget`` as a whole),
``field="policy"`` with ``old=None`` when a category is created. The circuit breaker
writes as user ``andon``.
"""

from __future__ import annotations

import os
import pwd
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from andon.policies.files import default_policies, dump_policies, load_policy_file, policy_table
from andon.policies.level import Level
from andon.policies.policy import Policy
from andon.policies.record import (
    Recommendation,
    RunSummary,
    TrackRecord,
    breaker_trips,
    recommend,
    track_record,
)
from andon.store import models as m
from andon.store.clock import as_utc, utcnow
from andon.store.db import Database


class NotAnApprover(PermissionError):
    """A person not on a category's approvers tried to change its level."""


#: The user name audit rows carry for decisions Andon makes itself (the breaker).
ANDON = "andon"


def current_user() -> str:
    """The OS user making a change (for audit rows and approver checks): the name of
    the process's real uid. Not LOGNAME or USER, which whoever starts the process sets
    (`LOGNAME=alice andon approve` must not pass as alice)."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


def current_host() -> str:
    """The machine a decision is made on, recorded beside the user."""
    return socket.gethostname() or "unknown"


# -- rows <-> policies --------------------------------------------------------------------


def policy_from_row(row: m.PolicyRow) -> Policy:
    """The Policy a stored row holds (fields it lacks take the level's defaults)."""
    return Policy.model_validate({**(row.data or {}), "category": row.category,
                                  "level": row.level})


def load_policy(db: Database, category: str) -> Policy:
    """The stored policy of a category; an unknown category gets the level-2 default
    (the safest: a person approves every step)."""
    with db.read() as s:
        row = s.get(m.PolicyRow, category)
        return policy_from_row(row) if row is not None else Policy.default(category)


def stored_policies(db: Database) -> dict[str, Policy]:
    """Every stored policy, by category name."""
    with db.read() as s:
        rows = s.exec(select(m.PolicyRow).order_by(col(m.PolicyRow.category))).all()
        return {row.category: policy_from_row(row) for row in rows}


def _diff(old: Policy | None, new: Policy) -> list[tuple[str, Any, Any]]:
    new_table = policy_table(new)
    if old is None:
        return [("policy", None, new_table)]
    old_table = policy_table(old)
    fields = [*old_table, *(k for k in new_table if k not in old_table)]
    return [
        (field, old_table.get(field), new_table.get(field))
        for field in fields
        if old_table.get(field) != new_table.get(field)
    ]


def _save(s: Session, policy: Policy, user: str, reason: str | None) -> list[m.PolicyChange]:
    row = s.get(m.PolicyRow, policy.category)
    old = policy_from_row(row) if row is not None else None
    changes = [
        m.PolicyChange(category=policy.category, field=field, old=before, new=after,
                       user=user, reason=reason)
        for field, before, after in _diff(old, policy)
    ]
    if not changes:
        return []
    if row is None:
        row = m.PolicyRow(category=policy.category, level=int(policy.level))
    row.level = int(policy.level)
    row.data = policy_table(policy)
    row.updated_at = utcnow()
    row.updated_by = user
    s.add(row)
    s.add_all(changes)
    s.flush()
    return changes


def save_policies(
    db: Database, policies: dict[str, Policy] | list[Policy], *, user: str | None = None,
    reason: str | None = None,
) -> list[m.PolicyChange]:
    """Store policies in one transaction; returns the audit rows written (none when
    nothing changed)."""
    items = list(policies.values()) if isinstance(policies, dict) else list(policies)
    who = user or current_user()
    with db.write() as s:
        changes: list[m.PolicyChange] = []
        for policy in items:
            changes.extend(_save(s, policy, who, reason))
        return changes


def import_policies(
    db: Database, path: str | Path, *, user: str | None = None, reason: str | None = None,
) -> list[m.PolicyChange]:
    """``andon policies import FILE``: raises PolicyFileError (and writes nothing) when
    the file is invalid; otherwise stores every category in it."""
    policies = load_policy_file(path)
    return save_policies(db, policies, user=user, reason=reason or f"imported from {path}")


def export_policies(db: Database) -> str:
    """``andon policies export``: every stored policy as one TOML document."""
    return dump_policies(stored_policies(db))


def seed_default_policies(
    db: Database, defaults: dict[str, Policy] | None = None, *, user: str = ANDON,
) -> list[str]:
    """``andon init``: store the shipped defaults for categories not stored yet (a
    person's changes are never overwritten). Returns the categories added."""
    wanted = defaults if defaults is not None else default_policies()
    with db.write() as s:
        added = []
        for category, policy in wanted.items():
            if s.get(m.PolicyRow, category) is None:
                _save(s, policy, user, "default policy")
                added.append(category)
        return added


def set_level(
    db: Database, category: str, level: Level | int | str, *, user: str | None = None,
    reason: str | None = None,
) -> Policy:
    """``andon level CATEGORY N``: change only the level, audited. Raises LevelError,
    or NotAnApprover when the category names its approvers and `user` is not one
    (those who may answer a line's gates are those who may say how dark it runs)."""
    new_level = Level.parse(level)
    who = user or current_user()
    with db.write() as s:
        row = s.get(m.PolicyRow, category)
        policy = policy_from_row(row) if row is not None else Policy.default(category)
        if who != ANDON and not policy.may_approve(who):
            raise NotAnApprover(
                f"{who} may not change the level of '{category}': its approvers are "
                f"{', '.join(policy.approvers)}")
        updated = Policy.model_validate({**policy_table(policy), "category": category,
                                         "level": new_level})
        _save(s, updated, who, reason)
        return updated


def policy_history(db: Database, category: str) -> list[m.PolicyChange]:
    """The audit trail of a category, oldest first."""
    with db.read() as s:
        return list(s.exec(
            select(m.PolicyChange).where(m.PolicyChange.category == category)
            .order_by(col(m.PolicyChange.id))
        ).all())


def level_since(db: Database, category: str) -> datetime | None:
    """When the category reached its current level (its last level change or creation)."""
    with db.read() as s:
        change = s.exec(
            select(m.PolicyChange)
            .where(m.PolicyChange.category == category,
                   col(m.PolicyChange.field).in_(("level", "policy")))
            .order_by(col(m.PolicyChange.id).desc()).limit(1)
        ).first()
        return as_utc(change.ts) if change is not None else None


# -- track record over stored runs ----------------------------------------------------------


def run_summaries(db: Database, category: str) -> list[RunSummary]:
    """Every run of a category as a RunSummary, oldest first; ``revised`` is set when a
    person asked for changes at one of its gates."""
    # Only the columns a summary reads: whole rows (with their JSON) cost three times as
    # much, and a busy category has tens of thousands of runs.
    columns = [col(c) for c in (m.Run.id, m.Run.category, m.Run.level, m.Run.status,
                                m.Run.human_touched, m.Run.satisfaction, m.Run.cost_usd,
                                m.Run.created_at, m.Run.merged_at, m.Run.escalated)]
    with db.read() as s:
        runs = s.execute(
            sa.select(*columns).where(col(m.Run.category) == category).order_by(col(m.Run.id))
        ).all()
        revised = set(s.exec(
            select(m.Gate.run_id).join(m.Run, col(m.Run.id) == col(m.Gate.run_id))
            .where(m.Run.category == category, m.Gate.status == m.REVISED)
        ).all())
    # Times come back aware (store.types.UTCDateTime), as the record's arithmetic needs.
    return [RunSummary.from_run(run, revised=run.id in revised) for run in runs]


def category_record(db: Database, category: str) -> TrackRecord:
    return track_record(run_summaries(db, category), category)


def category_recommendation(db: Database, category: str) -> Recommendation:
    return recommend(run_summaries(db, category), load_policy(db, category),
                     since=level_since(db, category))


def trip_breaker(db: Database, category: str) -> str | None:
    """Demote a level-4 category to level 3 when its breaker trips; audited as made by
    ``andon`` with the reason. Returns the reason, or None when nothing happened."""
    policy = load_policy(db, category)
    reason = breaker_trips(run_summaries(db, category), policy,
                           since=level_since(db, category))
    if reason is None:
        return None
    set_level(db, category, Level.SPEC_DRIVEN, user=ANDON, reason=reason)
    return reason
