"""Real scripted runs through the whole pipeline on a factory whose state is on
PostgreSQL, read back by the readiness report's own SQL (its PostgreSQL dialect)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from andon.store.db import Database
from tests.engine.readiness.test_shadow import (
    test_a_level_3_review_records_level_4s_verdict_hidden_until_the_person_decides as review,
)
from tests.engine.readiness.test_shadow import (
    test_an_escalation_below_level_4_is_the_shadow_escalating_with_its_rule as escalation,
)


@pytest.fixture
def pg_home(tmp_path: Path, pg_url: str) -> Home:
    home = Home(tmp_path / "pg-home")
    home.root.mkdir()
    home.config_path.write_text(f'[store]\nurl = "{pg_url}"\n')
    home.init().close()
    return home


@pytest.fixture
def pg_db(pg_home: Home) -> Iterator[Database]:
    db = pg_home.open()
    assert db.postgres
    yield db
    db.close()


def test_a_review_on_postgres(tmp_path: Path, pg_home: Home, pg_db: Database,
                              sample_repo: Path) -> None:
    review(tmp_path, pg_home, pg_db, sample_repo)


def test_an_escalation_on_postgres(tmp_path: Path, pg_home: Home, pg_db: Database,
                                   sample_repo: Path) -> None:
    escalation(tmp_path, pg_home, pg_db, sample_repo)
