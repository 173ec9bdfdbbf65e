"""The policies screen's read model: a category's policy, track record, Andon's
recommendation and its audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from andon.policies.policy import Policy
from andon.policies.record import Recommendation, TrackRecord
from andon.policies.stored import (
    category_recommendation,
    category_record,
    level_since,
    load_policy,
    policy_history,
)
from andon.store import models as m
from andon.store.db import Database


@dataclass(frozen=True)
class PolicyFacts:
    """What the detail pane shows of one category (loaded in a worker)."""

    policy: Policy
    record: TrackRecord
    recommendation: Recommendation
    changes: list[m.PolicyChange]  # newest first
    level_since: datetime | None


AUDIT_ROWS = 200


def policy_facts(db: Database, category: str) -> PolicyFacts:
    """Everything the detail pane and the level confirmation show of a category."""
    return PolicyFacts(
        policy=load_policy(db, category),
        record=category_record(db, category),
        recommendation=category_recommendation(db, category),
        changes=list(reversed(policy_history(db, category)))[:AUDIT_ROWS],
        level_since=level_since(db, category),
    )
