"""The run screen shows level 4's verdict beside the person's, and only once the person's
verdict is stored."""

from __future__ import annotations

from andon.store import models as m
from andon.tui.widgets.run_header import RunHeader
from tests.support.tui import Seeded, frozen_app, seeded, settle, wait_for  # noqa: F401
from tests.tui.test_run import gate, open_run


async def test_the_shadow_verdict_shows_after_the_person_decides(
        seeded: Seeded) -> None:  # noqa: F811
    review = gate(seeded)
    with seeded.db.write() as s:
        s.add(m.ShadowDecision(run_id=review.run_id, attempt=1, category="bugfix", level=3,
                               gate_id=review.id, verdict="escalate",
                               rules=[{"rule": "diff_too_large", "detail": "..."}]))
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, review.run_id)
        header = screen.query_one(RunHeader)
        assert "level 4" not in str(header.render())  # it must not anchor the person
        await pilot.press("a")
        await wait_for(lambda: gate(seeded).status == m.APPROVED, timeout=30)
        await wait_for(lambda: "level 4 would escalate (diff_too_large); the person "
                       "approved" in str(header.render()), timeout=30)
