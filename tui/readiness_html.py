"""`andon report --html FILE`: one self-contained page a lead can send around.

Everything is inline (style, charts as SVG); the page fetches nothing. Per category:
the recommendation, the figures in words, a chart per trend, and every figure of the
JSON report in a table whose cells name their category and JSON key
(``data-key="docs:false_merges.upper_95"``), so a reader's
script (and the test) can find each one. All text is escaped: titles and rules come
from people and models.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from andon.engine.readiness.document import readiness_json
from andon.engine.readiness.report import Readiness
from andon.tui.readiness_text import figure_lines, verdict_label

TRENDS = {"false_merges": "false merges", "agreement": "agreement",
          "reverts": "reverts", "cost_per_merge": "cost per merged change",
          "seconds_per_merge": "working time per merged change"}
WIDTH, HEIGHT = 240, 48

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 60em;
       color: #1d2329; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
.ready { color: #1a7f37; } .notyet { color: #9a6700; } .dark { color: #0969da; }
.sentence { font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; } figcaption { font-size: .85em; color: #57606a; }
svg { background: #f6f8fa; border: 1px solid #d0d7de; }
table { border-collapse: collapse; font-size: .85em; margin-top: 1em; }
td, th { border-bottom: 1px solid #d0d7de; padding: .15em .6em; text-align: left; }
"""


def sparkline_svg(values: Sequence[float | None], label: str) -> str:
    """A line chart of the values (None: a gap), scaled to its own range."""
    known = [v for v in values if v is not None]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}">']
    if known:
        low, high = min(known), max(known)
        span = (high - low) or 1.0
        step = WIDTH / max(len(values) - 1, 1)
        for segment in _segments(values):
            points = " ".join(
                f"{i * step:.1f},{HEIGHT - 4 - (v - low) / span * (HEIGHT - 8):.1f}"
                for i, v in segment)
            if len(segment) == 1:
                i, v = segment[0]
                y = HEIGHT - 4 - (v - low) / span * (HEIGHT - 8)
                parts.append(f'<circle cx="{i * step:.1f}" cy="{y:.1f}" r="2" '
                             f'fill="#0969da"/>')
            else:
                parts.append(f'<polyline fill="none" stroke="#0969da" stroke-width="2" '
                             f'points="{points}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _segments(values: Sequence[float | None]) -> Iterator[list[tuple[int, float]]]:
    run: list[tuple[int, float]] = []
    for i, value in enumerate(values):
        if value is None:
            if run:
                yield run
            run = []
        else:
            run.append((i, value))
    if run:
        yield run


def flat_figures(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar figure of a JSON report, by dotted key (lists of numbers as one
    value; windows and disagreements are shown in words)."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key in ("windows", "trends", "disagreements", "window"):
            continue
        if isinstance(value, dict):
            yield from flat_figures(value, f"{name}.")
        elif isinstance(value, list):
            yield name, ", ".join(str(v) for v in value)
        else:
            yield name, value


def _section(rep: Readiness) -> str:
    data = readiness_json(rep)
    label = verdict_label(rep)
    css = {"ready": "ready", "not yet": "notyet", "dark": "dark"}[label]
    rec = rep.recommendation
    out = [f'<section id="{escape(rep.category)}"><h2>{escape(rep.category)} '
           f'(level {rep.level}) <span class="{css}">{escape(label)}</span></h2>']
    if rec is not None:
        out.append(f'<p class="sentence">{escape(rec.sentence)}</p>')
    out.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in figure_lines(rep))
               + "</ul>")
    if rep.disagreements:
        out.append("<table><tr><th>run</th><th>title</th><th>disagreement</th>"
                   "<th>level 4</th><th>person</th><th>rules</th></tr>")
        out += [f"<tr><td>#{d.run_id}</td><td>{escape(d.title)}</td>"
                f"<td>{escape(d.kind.replace('_', ' '))}</td><td>{escape(d.shadow)}</td>"
                f"<td>{escape(d.person)}</td><td>{escape(', '.join(d.rules))}</td></tr>"
                for d in rep.disagreements]
        out.append("</table>")
    older = [w for w in rep.windows if w is not rep.window]
    if older:
        out.append("<p>Older windows: " + "; ".join(escape(w.describe()) + f" ({len(w.runs)} "
                   "runs)" for w in older) + "</p>")
    out.append('<div class="charts">')
    for key, title in TRENDS.items():
        out.append(f"<figure>{sparkline_svg(rep.trends.get(key, []), title)}"
                   f"<figcaption>{escape(title)}, oldest to newest</figcaption></figure>")
    out.append("</div><table><tr><th>figure</th><th>value</th></tr>")
    for key, value in flat_figures(data):
        shown = "" if value is None else str(value)
        out.append(f'<tr><td>{escape(key)}</td><td data-key="{escape(rep.category)}:'
                   f'{escape(key)}">{escape(shown)}</td></tr>')
    out.append("</table></section>")
    return "\n".join(out)


def render_html(reports: Sequence[Readiness], now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(_section(r) for r in reports) or "<p>No categories.</p>"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>Andon readiness report</title><style>{STYLE}</style></head><body>"
            f"<h1>Which categories may run dark</h1><p>Andon readiness report, {stamp}. "
            f"Bounds are 95%: exact (Clopper-Pearson) upper limits, the rule of three at "
            f"zero; agreement with its Wilson interval.</p>\n{body}\n</body></html>\n")


def write_html(path: Path, reports: Sequence[Readiness]) -> None:
    try:
        path.write_text(render_html(reports), encoding="utf-8")
    except OSError as exc:
        from andon.engine.errors import UserError

        raise UserError(f"--html {path}: cannot write the report ({exc.strerror})") from None
