"""The policies screen: levels and rules per category, and changing a level by key after
a confirmation that shows the track record and the recommendation."""

from __future__ import annotations

from datetime import timedelta

from textual.widgets import Input, Static

from andon.engine.factory.home import Home
from andon.policies.stored import current_user, load_policy, policy_history
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database
from andon.tui.app import AndonApp
from andon.tui.screens.policies import PoliciesScreen
from andon.tui.widgets.gate_detail import plain_text
from andon.tui.widgets.policy_level import PolicyLevelScreen
from andon.tui.widgets.policy_table import PolicyTable
from tests.support.tui import settle
from tests.tui.test_gates import control_room, notifications, wait_for


def add_runs(db: Database, category: str, level: int, statuses: list[str]) -> None:
    with db.write() as s:
        spec = m.Spec(path=f"/specs/{category}.md", title=f"{category} spec",
                      category=category, repo="x")
        s.add(spec)
        s.flush()
        for i, status in enumerate(statuses):
            created = utcnow() + timedelta(seconds=i)  # after the level was set
            merged = created + timedelta(minutes=30) if status == m.MERGED else None
            s.add(m.Run(spec_id=spec.id or 0, title=f"{category} {i}", category=category,
                        level=level, status=status, created_at=created, merged_at=merged,
                        satisfaction=1.0, cost_usd=0.5))


def detail_text(app: AndonApp) -> str:
    return plain_text(app.screen.query_one("#policy-detail-body", Static).content)


async def open_policies(app: AndonApp, pilot) -> PoliciesScreen:  # type: ignore[no-untyped-def]
    await pilot.press("p")
    await wait_for(lambda: isinstance(app.screen, PoliciesScreen)
                   and app.screen.query_one(PolicyTable).row_count == 5)
    await wait_for(lambda: "audit log" in detail_text(app))
    assert isinstance(app.screen, PoliciesScreen)
    return app.screen


async def select(pilot, app: AndonApp, category: str) -> None:  # type: ignore[no-untyped-def]
    table = app.screen.query_one(PolicyTable)
    while table.selected_category() != category:
        await pilot.press("down")
    await wait_for(lambda: detail_text(app).startswith(category))


async def test_a_row_per_category_with_level_budgets_and_rules(
        home: Home, db: Database) -> None:
    app = control_room(home, db)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await open_policies(app, pilot)
        table = screen.query_one(PolicyTable)
        rows = {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)]
                for i in range(table.row_count)}
        assert sorted(rows) == ["bugfix", "deps", "docs", "feature", "migration"]
        docs = load_policy(db, "docs")
        assert rows["docs"][1] == "4 dark"
        assert rows["docs"][4] == str(docs.max_diff_lines)
        assert rows["feature"][1] == "2 supervised"

        await select(pilot, app, "feature")
        text = detail_text(app)
        assert "feature · level 2 (supervised)" in text
        assert "max diff lines" in text and "approvers" in text and "gate timeout" in text
        assert "no runs yet" in text
        assert "created the policy (default policy)" in text


async def test_promoting_shows_the_record_and_recommendation_then_is_audited(
        home: Home, db: Database) -> None:
    add_runs(db, "feature", 2, [m.MERGED, m.MERGED, m.FAILED])
    app = control_room(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_policies(app, pilot)
        await select(pilot, app, "feature")
        assert "runs 3 · merged 2" in detail_text(app)

        await pilot.press("+")
        await wait_for(lambda: isinstance(app.screen, PolicyLevelScreen))
        modal = app.screen
        title = str(modal.query_one("#level-change").content)
        assert title == ("Promote feature: level 2 (supervised) → level 3 (spec-driven)?")
        record = plain_text(modal.query_one("#level-record", Static).content)
        assert "runs 3 · merged 2" in record and "failed 1" in record
        advice = plain_text(modal.query_one("#level-recommendation", Static).content)
        assert "Andon does not recommend this promotion" in advice
        assert "did not merge (failed)" in advice

        await pilot.press("escape")  # cancelled: nothing changes
        await pilot.pause()
        assert load_policy(db, "feature").level == 2

        await pilot.press("+")
        await wait_for(lambda: isinstance(app.screen, PolicyLevelScreen))
        app.screen.query_one(Input).value = "team trusts it"
        await pilot.press("enter")
        await wait_for(lambda: load_policy(db, "feature").level == 3)
        last = policy_history(db, "feature")[-1]
        assert (last.field, last.old, last.new) == ("level", 2, 3)
        assert last.user == current_user() and last.reason == "team trusts it"
        await wait_for(lambda: "level: 2 → 3 (team trusts it)" in detail_text(app))
        assert "feature · level 3 (spec-driven)" in detail_text(app)


async def test_demoting_asks_too_and_the_ends_are_refused(home: Home, db: Database) -> None:
    app = control_room(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_policies(app, pilot)
        await select(pilot, app, "docs")
        await pilot.press("+")  # docs is dark already
        await wait_for(lambda: any("already at level 4" in n for n in notifications(app)))
        assert not isinstance(app.screen, PolicyLevelScreen)

        await pilot.press("-")
        await wait_for(lambda: isinstance(app.screen, PolicyLevelScreen))
        modal = app.screen
        assert str(modal.query_one("#level-change").content).startswith("Demote docs")
        await pilot.press("enter")  # no reason: an audited decision needs one
        await wait_for(lambda: modal.query_one("#level-error").has_class("-shown"))
        await settle(pilot)
        assert app.screen is modal and load_policy(db, "docs").level == 4
        await pilot.press(*"   ", "enter")  # blanks are no reason either
        await settle(pilot)
        assert app.screen is modal and load_policy(db, "docs").level == 4
        await pilot.press(*"flaky docs check", "enter")
        await wait_for(lambda: load_policy(db, "docs").level == 3)
        assert policy_history(db, "docs")[-1].reason == "flaky docs check"
