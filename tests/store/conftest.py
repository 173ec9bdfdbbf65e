"""The store's tests run on both databases a factory may use: an SQLite file and a real
PostgreSQL server (skipped, saying why, where none can start)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from andon.store.db import Database

NewTarget = Callable[[str], str]


@pytest.fixture(params=["sqlite", "postgres"])
def new_target(request: pytest.FixtureRequest, tmp_path: Path) -> NewTarget:
    """Makes a fresh, empty database (its name a hint) and returns what `Database` opens:
    a file's path or a postgresql:// URL."""
    if request.param == "sqlite":
        return lambda name: str(tmp_path / f"{name}.db")
    cluster = request.getfixturevalue("pg_cluster")
    return lambda _name: str(cluster.database())


@pytest.fixture
def store_db(new_target: NewTarget) -> Iterator[Database]:
    database = Database(new_target("andon"))
    yield database
    database.close()
