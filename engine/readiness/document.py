"""The readiness report as plain data: what `andon report --json` prints, and what the
HTML page and the screen show (every figure appears here first)."""

from __future__ import annotations

from typing import Any

from andon.engine.readiness.report import Readiness
from andon.engine.readiness.windows import Window


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def window_json(window: Window) -> dict[str, Any]:
    return {"number": window.number, "first_run": window.first_run,
            "last_run": window.last_run, "runs": len(window.runs),
            "fingerprint": window.fingerprint,
            "changed": [{"part": c.part, "old": c.old, "new": c.new} for c in window.changes],
            "description": window.describe()}


def readiness_json(report: Readiness) -> dict[str, Any]:
    interval = report.agreement_interval
    rec = report.recommendation
    return {
        "category": report.category,
        "level": report.level,
        "window": window_json(report.window),
        "windows": [window_json(w) for w in report.windows],
        "runs": report.runs,
        "decided": report.decided,
        "steered": report.steered,
        "false_merges": {"count": report.false_merges, "of": report.decided,
                         "rate": _pct(report.false_merge_rate),
                         "upper_95": _pct(report.false_merge_upper)},
        "agreement": {"count": report.agreed, "of": report.decided,
                      "rate": _pct(report.agreement),
                      "wilson_95": None if interval is None
                      else [_pct(interval.low), _pct(interval.high)]},
        "false_escalations": report.false_escalations,
        "disagreements": [{"run": d.run_id, "title": d.title, "kind": d.kind,
                           "level4": d.shadow, "person": d.person, "rules": list(d.rules)}
                          for d in report.disagreements],
        "reverts": {"reverted": report.reverted,
                    "failed_after_merge": report.failed_after_merge,
                    "merged": report.merged, "rate": _pct(report.revert_rate),
                    "upper_95": _pct(report.revert_upper)},
        "escalations": report.escalations,
        "first_attempt": {"count": report.first_attempt, "of": report.runs,
                          "rate": _pct(report.first_attempt_rate)},
        "attempts_per_merge": _pct(report.attempts_per_merge),
        "revisions": report.revisions,
        "cost_per_merge_usd": _pct(report.cost_per_merge),
        "seconds_per_merge": _pct(report.seconds_per_merge),
        "merge_conflicts": report.conflicts,
        "breaker_trips": report.breaker_trips,
        "trends": {name: [_pct(v) for v in values] for name, values in report.trends.items()},
        "recommendation": None if rec is None else {
            "ready": rec.ready, "sentence": rec.sentence, "missing": list(rec.missing)},
    }
