"""The readiness figures as short lines of plain text (the CLI and the screen share them;
the caller shows them without markup, since titles and rules come from people and models)."""

from __future__ import annotations

from andon.engine.readiness.report import Readiness

DISAGREEMENTS_SHOWN = 5
KINDS = {"false_merge": "false merge", "false_escalation": "false escalation"}


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def verdict_label(rep: Readiness) -> str:
    rec = rep.recommendation
    if rep.level >= 4:
        return "dark"
    return "ready" if rec is not None and rec.ready else "not yet"


def figure_lines(rep: Readiness) -> list[str]:
    older = len(rep.windows) - 1
    window = rep.window.describe() + (f" ({older} older)" if older else "")
    interval = rep.agreement_interval
    lines = [
        window,
        f"runs {rep.runs}: {rep.decided} decided by a person, {rep.steered} steered "
        f"(counted apart)",
        f"false merges {rep.false_merges} of {rep.decided} = {pct(rep.false_merge_rate)} "
        f"(at most {pct(rep.false_merge_upper)} at 95%)",
        f"agreement {rep.agreed} of {rep.decided} = {pct(rep.agreement)}"
        + (f" (95% CI {interval})" if interval is not None else ""),
    ]
    if rep.disagreements:
        shown = [f"#{d.run_id} {KINDS.get(d.kind, d.kind)} (level 4 would {d.shadow}, "
                 f"person {d.person})" for d in rep.disagreements[-DISAGREEMENTS_SHOWN:]]
        more = len(rep.disagreements) - DISAGREEMENTS_SHOWN
        lines.append("disagreements: " + "; ".join(shown)
                     + (f"; and {more} earlier" if more > 0 else ""))
    lines += [
        f"reverts and post-merge failures {rep.failed_after_merge} in {rep.merged} merges "
        f"(at most {pct(rep.revert_upper)})",
        "escalations: " + (", ".join(f"{rule} {n}" for rule, n in rep.escalations.items())
                           or "none"),
        f"first-attempt success {rep.first_attempt} of {rep.runs} = "
        f"{pct(rep.first_attempt_rate)}; attempts per merge "
        + ("-" if rep.attempts_per_merge is None else f"{rep.attempts_per_merge:.2f}")
        + f"; revisions asked {rep.revisions}",
        "per merged change: cost "
        + ("-" if rep.cost_per_merge is None else f"${rep.cost_per_merge:.2f}")
        + f", working time {duration(rep.seconds_per_merge)}; merge conflicts {rep.conflicts}",
    ]
    if rep.breaker_trips:
        lines.append(f"circuit breaker tripped {len(rep.breaker_trips)}x, last: "
                     f"{rep.breaker_trips[-1]}")
    return lines
