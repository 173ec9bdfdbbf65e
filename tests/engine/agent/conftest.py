"""The agent tests' shared kit: a real repository, a run row and a Kit around them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from andon.store.db import Database
from tests.conftest import make_repo
from tests.support.agentkit import Kit, make_run


@pytest.fixture
def kit(db: Database, tmp_path: Path) -> Iterator[Kit]:
    repo = make_repo(tmp_path / "repo")
    k = Kit(db, repo, make_run(db, repo))
    yield k
    k.close()
