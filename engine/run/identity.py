"""Who a run is on a shared repository: its home's id and its number.

Run numbers start at 1 in every home, and several homes may work on one repository, so
a run's commits carry both as trailers (`Andon-Run: 1`, `Andon-Home: 6f1c...`). Whoever
looks for a run's merge on the base (the merge itself, recovery) asks for both.
"""

from __future__ import annotations

import uuid

from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database

RUN_TRAILER = "Andon-Run"
HOME_TRAILER = "Andon-Home"
REVERT_TRAILER = "Andon-Reverts"
_SETTING = "home.id"


def home_id(db: Database) -> str:
    """This home's id, made the first time it is asked for and kept in its database."""
    with db.read() as s:
        row = s.get(m.Setting, _SETTING)
    if row is not None and row.value:
        return str(row.value["id"])
    with db.write() as s:  # two engines asking at once agree on the first one written
        row = s.get(m.Setting, _SETTING)
        if row is None or not row.value:
            row = m.Setting(key=_SETTING, value={"id": uuid.uuid4().hex[:16]},
                            updated_at=utcnow(), updated_by="andon")
            s.add(row)
        return str(row.value["id"])


def trailers(home: str, run_id: int) -> str:
    """The identity trailers of a run's merge (one per line)."""
    return f"{RUN_TRAILER}: {run_id}\n{HOME_TRAILER}: {home}"
