"""The andon cord: anyone may stop the line.

Pulled, nothing new starts (the dispatcher asks `cord_pulled`) and every running run
holds at its next step boundary (`engine.run.control.RunControl.boundary` reads the same
setting). Released, held runs carry on where they stopped.

The current state lives in the `settings` row ``"cord"`` (`engine.run.control.CORD_KEY`):
``{"by": user, "at": iso time, "reason": why}`` while pulled, null when released. Every
pull and release is also an event (kinds ``cord.pulled`` / ``cord.released``, no run),
so the history of who stopped the line, when and why is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from andon.engine.run.control import CORD_KEY, cord_state
from andon.policies.stored import current_host, current_user
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database

PULLED = "cord.pulled"
RELEASED = "cord.released"
REASON = "cord.reason"  # the reason given after a pull that had none


@dataclass(frozen=True)
class CordChange:
    """What a pull or release did. ``changed`` is False when the cord already was so."""

    pulled: bool
    changed: bool
    state: dict[str, Any] | None  # the record while pulled (by, at, reason)


def cord_pulled(db: Database) -> bool:
    """Is the line stopped? The dispatcher starts no new run while this is True."""
    return cord_state(db) is not None


def pull(db: Database, reason: str | None = None, user: str | None = None) -> CordChange:
    """Stop the line. Stopping in a hurry needs no reason: one may follow by pulling
    again with it (which records it, once). Otherwise pulling a pulled cord changes
    nothing."""
    reason = (reason or "").strip() or None
    who = user or current_user()
    with db.write() as s:
        row = s.get(m.Setting, CORD_KEY)
        if row is not None and row.value:
            state = dict(row.value)
            if reason and not state.get("reason"):
                state["reason"] = reason
                row.value = state
                s.add(row)
                s.add(m.Event(kind=REASON, message=f"cord reason from {who}: {reason}",
                              data={"by": who, "host": current_host(), "reason": reason}))
            return CordChange(pulled=True, changed=False, state=state)
        now = utcnow()
        state = {"by": who, "at": now.isoformat(), "reason": reason}
        if row is None:
            row = m.Setting(key=CORD_KEY)
        row.value = state
        row.updated_at = now
        row.updated_by = who
        s.add(row)
        s.add(m.Event(kind=PULLED, message=f"cord pulled by {who}: {reason or 'no reason yet'}",
                      data={"by": who, "host": current_host(), "reason": reason}))
    return CordChange(pulled=True, changed=True, state=state)


def release(db: Database, user: str | None = None, reason: str | None = None) -> CordChange:
    """Let the line run again: held runs resume, dispatch starts new runs."""
    who = user or current_user()
    reason = (reason or "").strip() or None
    with db.write() as s:
        row = s.get(m.Setting, CORD_KEY)
        if row is None or not row.value:
            return CordChange(pulled=False, changed=False, state=None)
        was = dict(row.value)
        now = utcnow()
        row.value = None
        row.updated_at = now
        row.updated_by = who
        s.add(row)
        held_for = _seconds_since(was.get("at"), now)
        message = f"cord released by {who}"
        if reason:
            message += f": {reason}"
        s.add(m.Event(kind=RELEASED, message=message,
                      data={"by": who, "host": current_host(), "reason": reason,
                            "pulled_by": was.get("by"),
                            "pulled_reason": was.get("reason"), "seconds": held_for}))
    return CordChange(pulled=False, changed=True, state=None)


def cord_history(db: Database, limit: int = 50) -> list[m.Event]:
    """The latest pulls, late reasons and releases, oldest first."""
    with db.read() as s:
        rows = s.exec(
            select(m.Event).where(col(m.Event.kind).in_((PULLED, REASON, RELEASED)))
            .order_by(col(m.Event.id).desc()).limit(limit)
        ).all()
    return list(reversed(rows))


def _seconds_since(iso: Any, now: datetime) -> float | None:
    if not isinstance(iso, str):
        return None
    try:
        return round((now - datetime.fromisoformat(iso)).total_seconds(), 3)
    except ValueError:
        return None
