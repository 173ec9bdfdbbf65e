"""`andon report` as people and scripts use it: JSON figures, words, an HTML page that
stands on its own."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from andon.engine.factory.home import Home
from andon.engine.readiness.history import Profile, add_history
from andon.store import models as m
from andon.store.db import Database
from andon.tui.readiness_html import TRENDS, flat_figures

PARTS = {"backend": "builtin", "model": "claude-sonnet-4-5", "prompt": "a" * 64,
         "policy": "b" * 64, "checks": ["pytest -q"], "scenarios": None}


def _andon(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def history(db: Database) -> Database:
    with db.write() as s:
        spec = m.Spec(path="/specs/fix.md", title="fix", category="bugfix", repo="sample")
        s.add(spec)
        s.flush()
        s.refresh(spec)
    add_history(db, Profile("bugfix", 120, false_merge=0.05, escalate=0.1, revert=0.02,
                            titles=("Fix <script>alert(1)</script> [bold]x[/]",)),
                spec, PARTS, earlier={**PARTS, "model": "claude-sonnet-4-0"},
                earlier_runs=20)
    return db


def test_json_report_of_one_category(home: Home, history: Database) -> None:
    done = _andon(home, "report", "bugfix", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["category"] == "bugfix" and data["level"] == 3
    assert [w["number"] for w in data["windows"]] == [1, 2]
    assert data["window"]["changed"] == [{"part": "model", "old": "claude-sonnet-4-0",
                                          "new": "claude-sonnet-4-5"}]
    assert data["window"]["runs"] == 100  # the report speaks for the newest window
    fm = data["false_merges"]
    assert fm["count"] > 0 and fm["upper_95"] > fm["rate"]
    assert data["agreement"]["wilson_95"][0] < data["agreement"]["rate"]
    assert not data["recommendation"]["ready"]
    assert data["recommendation"]["sentence"].startswith("bugfix not yet: ")


def test_words_show_titles_and_rules_as_written(home: Home, history: Database) -> None:
    done = _andon(home, "report")
    assert done.returncode == 0, done.stderr
    assert "bugfix  level 3  not yet" in done.stdout
    assert "false merges" in done.stdout and "window 2: runs #" in done.stdout


def test_an_unknown_category_is_one_clear_error(home: Home, history: Database) -> None:
    done = _andon(home, "report", "nope")
    assert done.returncode == 2
    assert "no policy for category 'nope'" in done.stderr


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.svgs = 0
        self.external: list[str] = []
        self.cells: dict[str, str] = {}
        self._key: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.svgs += tag == "svg"
        if tag in ("script", "link", "img", "iframe", "object", "embed"):
            self.external.append(tag)
        for name in ("src", "href"):
            if found.get(name):
                self.external.append(f"{tag} {name}={found[name]}")
        self._key = found.get("data-key")

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._key is not None:
            self.cells[self._key] = data

    def handle_endtag(self, tag: str) -> None:
        self._key = None


def test_the_html_page_stands_alone_with_every_figure(home: Home, history: Database,
                                                      tmp_path: Path) -> None:
    page_file = tmp_path / "readiness.html"
    done = _andon(home, "report", "--html", str(page_file), "--json")
    assert done.returncode == 0, done.stderr
    reports: list[dict[str, Any]] = json.loads(done.stdout)
    html = page_file.read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    assert page.external == [] and "url(" not in html and "@import" not in html
    assert page.svgs == len(TRENDS) * len(reports) and len(TRENDS) == 5
    assert "<script>" not in html and "&lt;script&gt;" in html  # a title, escaped
    figures = 0
    for report in reports:
        for key, value in flat_figures(report):
            name = f"{report['category']}:{key}"
            assert page.cells.get(name, "") == ("" if value is None else str(value)), name
            figures += 1
    assert figures > 20 * len(reports)
    bugfix = next(r for r in reports if r["category"] == "bugfix")
    assert bugfix["recommendation"]["sentence"] in "".join(page.text)
