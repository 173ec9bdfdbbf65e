"""The gates inbox: what each pending gate asks, and approving or rejecting it by key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textual.command import CommandPalette
from textual.widgets import Input, Label, Static

from andon.engine.factory.home import Home
from andon.policies.policy import Policy
from andon.policies.stored import current_user, save_policies
from andon.store import models as m
from andon.store.db import Database
from andon.tui.app import AndonApp
from andon.tui.screens.gates import GatesScreen
from andon.tui.widgets.gate_comment import GateCommentScreen
from andon.tui.widgets.gate_confirm import ApproveGateScreen
from andon.tui.widgets.gate_detail import GateDetail, plain_text
from andon.tui.widgets.gate_table import GateTable
from tests.support.tui import highlighted_command, wait_for

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def control_room(home: Home, db: Database) -> AndonApp:
    """The real control room over this home, its clock frozen at NOW (no engine)."""
    return AndonApp(home, db, clock=lambda: NOW)




def add_run(db: Database, category: str = "feature", title: str = "Add slugify") -> int:
    with db.write() as s:
        spec = m.Spec(path=f"/specs/{title}.md", title=title, category=category, repo="x")
        s.add(spec)
        s.flush()
        run = m.Run(spec_id=spec.id or 0, title=title, category=category, level=2,
                    status=m.WAITING, stage="implement")
        s.add(run)
        s.flush()
        return run.id or 0


def add_gate(db: Database, run_id: int, kind: str, title: str, detail: dict,
             created: datetime, status: str = m.PENDING) -> int:
    with db.write() as s:
        gate = m.Gate(run_id=run_id, kind=kind, stage="implement", title=title,
                      detail=detail, created_at=created, status=status)
        s.add(gate)
        s.flush()
        return gate.id or 0


def gate_row(db: Database, gate_id: int) -> m.Gate:
    with db.read() as s:
        gate = s.get(m.Gate, gate_id)
        assert gate is not None
        return gate


def table_ids(app: AndonApp) -> list[str]:
    table = app.screen.query_one(GateTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def notifications(app: AndonApp) -> list[str]:
    return [n.message for n in app._notifications]


async def open_inbox(app: AndonApp, pilot, count: int) -> GatesScreen:  # type: ignore[no-untyped-def]
    await pilot.press("g")  # the inbox is one key away from anywhere
    await wait_for(lambda: isinstance(app.screen, GatesScreen)
                   and app.screen.query_one(GateTable).row_count == count)
    await pilot.pause()
    assert isinstance(app.screen, GatesScreen)
    return app.screen


async def test_inbox_lists_pending_gates_oldest_first_with_what_each_asks(
        home: Home, db: Database) -> None:
    run = add_run(db)
    newer = add_gate(db, run, "plan", "Approve the plan", {"plan": "1. write slugify\n2. test"},
                     NOW - timedelta(minutes=5))
    older = add_gate(db, run, "action", "Run a command",
                     {"tool": "bash", "input": {"command": "rm -rf build && make"}},
                     NOW - timedelta(hours=2, minutes=3))
    add_gate(db, run, "plan", "Old decided gate", {}, NOW - timedelta(days=1),
             status=m.APPROVED)
    held = add_gate(db, run, "review", "Held past its timeout",
                    {"timeout": {"minutes": 60, "decision": "hold",
                                 "expired_at": "2025-03-01T11:00:00+00:00"}},
                    NOW - timedelta(minutes=1))
    app = control_room(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_inbox(app, pilot, 3)
        assert table_ids(app) == [str(older), str(newer), str(held)]
        table = screen.query_one(GateTable)
        assert [str(c) for c in table.get_row_at(0)][1:5] == ["action", str(run), "feature",
                                                               "2h 03m"]
        detail = screen.query_one(GateDetail).visible_text()
        assert "$ rm -rf build && make" in detail
        assert "tool: bash" in detail

        await pilot.press("down")
        await pilot.pause()
        detail = screen.query_one(GateDetail).visible_text()
        assert "1. write slugify" in detail and "waiting 5m" in detail

        await pilot.press("down")
        await pilot.pause()
        assert str(table.get_row_at(2)[1]) == "review ⏱"
        detail = screen.query_one(GateDetail).visible_text()
        assert "timed out at 2025-03-01 11:00 UTC: held for a person" in detail


async def test_approving_an_action_gate_shows_the_exact_command_first(
        home: Home, db: Database) -> None:
    run = add_run(db)
    gate = add_gate(db, run, "action", "Run a command",
                    {"tool": "bash", "input": {"command": "pip install requests"}},
                    NOW - timedelta(minutes=1))
    app = control_room(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_inbox(app, pilot, 1)
        await pilot.press("a")
        await wait_for(lambda: isinstance(app.screen, ApproveGateScreen))
        shown = plain_text(app.screen.query_one("#approve-change", Static).content)
        assert "$ pip install requests" in shown

        await pilot.press("escape")  # changed my mind: nothing is decided
        await pilot.pause()
        assert gate_row(db, gate).status == m.PENDING

        await pilot.press("a")
        await wait_for(lambda: isinstance(app.screen, ApproveGateScreen))
        await pilot.press("y")
        await wait_for(lambda: gate_row(db, gate).status == m.APPROVED)
        decided = gate_row(db, gate)
        assert decided.decided_by == current_user()
        await wait_for(lambda: table_ids(app) == [])
        assert any(f"Gate {gate} approved" in n for n in notifications(app))


async def test_approving_a_diff_gate_shows_the_diff(home: Home, db: Database) -> None:
    run = add_run(db)
    diff = ("--- a/sample/text.py\n+++ b/sample/text.py\n@@ -1,2 +1,3 @@\n"
            " def shout(t):\n-    return t\n+    return t.upper()\n")
    add_gate(db, run, "action", "Edit sample/text.py",
             {"tool": "str_replace_based_edit_tool", "preview": diff},
             NOW - timedelta(minutes=1))
    app = control_room(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_inbox(app, pilot, 1)
        await pilot.press("a")
        await wait_for(lambda: isinstance(app.screen, ApproveGateScreen))
        shown = plain_text(app.screen.query_one("#approve-change", Static).content)
        assert "+    return t.upper()" in shown and "-    return t" in shown


async def test_reject_with_a_comment_stores_the_comment(home: Home, db: Database) -> None:
    run = add_run(db)
    gate = add_gate(db, run, "review", "Review the change",
                    {"diff": "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",
                     "checks": [{"name": "pytest -q", "exit_code": 1}],
                     "satisfaction": 0.5}, NOW - timedelta(minutes=3))
    app = control_room(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_inbox(app, pilot, 1)
        detail = screen.query_one(GateDetail).visible_text()
        assert "✗ pytest -q  (exit 1)" in detail
        assert "satisfaction 0.50" in detail

        await pilot.press("x")
        await wait_for(lambda: isinstance(app.screen, GateCommentScreen))
        await pilot.press("enter")  # a blank comment is refused in the modal
        await pilot.pause()
        problem = app.screen.query_one("#comment-problem", Label).content
        assert "A comment is needed to reject" in str(problem)
        assert gate_row(db, gate).status == m.PENDING
        app.screen.query_one(Input).value = "tests fail"
        await pilot.press("enter")
        await wait_for(lambda: gate_row(db, gate).status == m.GATE_REJECTED)
        assert gate_row(db, gate).comment == "tests fail"
        assert gate_row(db, gate).decided_by == current_user()


async def test_a_user_who_is_not_an_approver_is_refused_clearly(
        home: Home, db: Database) -> None:
    save_policies(db, [Policy(category="feature", level=2, approvers=["release-lead"])])
    run = add_run(db)
    gate = add_gate(db, run, "escalation", "escalated (protected_path): Add slugify",
                    {"rules": [{"rule": "protected_path", "detail": "migrations/0002.py"}]},
                    NOW - timedelta(minutes=3))
    app = control_room(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_inbox(app, pilot, 1)
        detail = screen.query_one(GateDetail).visible_text()
        assert "rules tripped" in detail and "protected_path: migrations/0002.py" in detail
        await pilot.press("a")
        await wait_for(lambda: any("release-lead" in n for n in notifications(app)))
        refused = next(n for n in notifications(app) if "release-lead" in n)
        assert current_user() in refused
        assert gate_row(db, gate).status == m.PENDING
        assert table_ids(app) == [str(gate)]


async def test_a_gate_decided_elsewhere_leaves_the_inbox(home: Home, db: Database) -> None:
    run = add_run(db)
    gate = add_gate(db, run, "plan", "Approve the plan", {"plan": "x"}, NOW)
    app = control_room(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_inbox(app, pilot, 1)
        with db.write() as s:
            row = s.get(m.Gate, gate)
            assert row is not None
            row.status = m.APPROVED
        await wait_for(lambda: table_ids(app) == [])


async def test_revise_sends_a_review_back_with_what_should_change(
        home: Home, db: Database) -> None:
    run = add_run(db)
    action = add_gate(db, run, "action", "run: make", {"command": "make"}, NOW)
    review = add_gate(db, run, "review", "review: Add slugify", {"diff": "+x\n"}, NOW)
    app = control_room(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_inbox(app, pilot, 2)
        await pilot.press("e")  # the action gate is first: it cannot be revised
        await wait_for(lambda: any("cannot go back for revision" in n for n in notifications(app)))
        assert not isinstance(app.screen, GateCommentScreen)
        await pilot.press("down", "e")
        await wait_for(lambda: isinstance(app.screen, GateCommentScreen))
        app.screen.query_one(Input).value = "name it slug"
        await pilot.press("enter")
        await wait_for(lambda: gate_row(db, review).status == m.REVISED)
        assert gate_row(db, review).comment == "name it slug"
        assert gate_row(db, action).status == m.PENDING


async def test_the_palette_offers_the_selected_gates_actions(home: Home, db: Database) -> None:
    run = add_run(db)
    gate = add_gate(db, run, "plan", "plan for: Add slugify", {"plan": "x"}, NOW)
    app = control_room(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_inbox(app, pilot, 1)
        await pilot.press("ctrl+p")
        await wait_for(lambda: isinstance(app.screen, CommandPalette))
        app.screen.query_one(Input).value = f"approve gate {gate}"
        await wait_for(lambda: highlighted_command(app) == f"Approve gate {gate}")
        await pilot.press("enter")
        await wait_for(lambda: gate_row(db, gate).status == m.APPROVED)
