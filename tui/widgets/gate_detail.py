"""What a gate asks, in words and code: the exact command or diff of an action, the plan,
the review's diff, checks and satisfaction, the escalation's rule.

The engine fills ``Gate.detail`` per kind; this module renders whatever keys it finds,
the known ones first and in a fixed order, anything else after as ``key: value``, so a
new kind of gate still shows everything it carries.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from andon.store import models as m
from andon.store.clock import as_utc
from andon.tui.data.gates import GateItem
from andon.tui.widgets.colours import syntax_theme

#: Keys rendered by a dedicated section below (in this order); others are listed after.
_KNOWN = ("tool", "action", "command", "input", "path", "preview", "diff", "plan",
          "numstat", "checks", "satisfaction", "threshold", "scenarios", "spend", "rule",
          "rules", "reason", "reasons", "breach", "files", "spec", "timeout", "budget",
          "approve_means", "extend_by", "detail")


def format_age(created: datetime | None, now: datetime) -> str:
    """``45s``, ``12m``, ``3h 05m``, ``2d 4h``: how long a gate has waited."""
    if created is None:
        return "?"
    seconds = max(0, int((now - (as_utc(created) or now)).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 24:
        return f"{hours}h {minutes % 60:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def action_command(detail: dict[str, Any]) -> str | None:
    """The shell command an action gate would run, when it is one. The editor's input
    has a `command` too (create, str_replace): that is no shell command."""
    if detail.get("tool") not in (None, "bash"):
        return None
    if isinstance(detail.get("command"), str):
        return detail["command"]
    tool_input = detail.get("input")
    if isinstance(tool_input, dict) and isinstance(tool_input.get("command"), str):
        return tool_input["command"]
    return None


def exact_change(gate: m.Gate) -> str:
    """The exact thing approving an action gate lets through: the diff or file change
    preview when there is one, else the command, else the tool input as JSON."""
    detail = gate.detail or {}
    for key in ("preview", "diff"):
        if isinstance(detail.get(key), str) and detail[key].strip():
            return detail[key]
    command = action_command(detail)
    if command is not None:
        return f"$ {command}"
    if detail.get("input") is not None:
        return json.dumps(detail["input"], indent=2, sort_keys=True, default=str)
    return gate.title or "(the gate carries no detail)"


def _code(text: str, lexer: str, syntax: str) -> RenderableType:
    return Syntax(text, lexer, theme=syntax, word_wrap=True, background_color="default")


def _is_diff(text: str) -> bool:
    return text.startswith(("diff --git", "--- ", "@@")) or "\n@@ " in text


def _checks(checks: Any) -> RenderableType:
    lines = Text()
    for check in checks if isinstance(checks, list) else [checks]:
        if isinstance(check, dict):
            name = str(check.get("name") or check.get("command") or "check")
            status = check.get("status")
            if status is None and "exit_code" in check:
                status = "ok" if check["exit_code"] == 0 else f"exit {check['exit_code']}"
            if status is None and "ok" in check:
                status = "ok" if check["ok"] else "failed"
            good = str(status) in ("ok", "passed", "pass", "True")
            lines.append("  ✓ " if good else "  ✗ ", style="green" if good else "bold red")
            lines.append(f"{name}  ({status})\n")
        else:
            lines.append(f"  • {check}\n")
    return lines


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _rule(value: Any) -> str:
    """An escalation rule as the engine stores it ({"rule", "detail"}) or plain text."""
    if isinstance(value, dict) and "rule" in value:
        return f"{value['rule']}: {value['detail']}" if value.get("detail") else str(
            value["rule"])
    return _value(value)


def _stamp(value: Any) -> str:
    """An ISO time from a gate's detail as ``2025-03-01 11:00 UTC``."""
    try:
        when = as_utc(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)
    return f"{when:%Y-%m-%d %H:%M} UTC"


def _heading(text: str) -> Text:
    return Text(text, style="bold underline")


def render_gate(item: GateItem, now: datetime, syntax: str = "ansi_dark") -> RenderableType:
    """The whole of a gate: header lines, then each section its detail carries."""
    gate, run = item.gate, item.run
    detail = dict(gate.detail or {})
    head = Text()
    head.append(f"gate {gate.id}", style="bold")
    head.append(f" · {gate.kind}", style="bold yellow")
    head.append(f" · run {run.id} ({run.status}{', ' + gate.stage if gate.stage else ''})")
    head.append(f" · {run.category} L{run.level}")
    head.append(f" · waiting {format_age(gate.created_at, now)}\n")
    head.append(gate.title or run.title, style="italic")
    parts: list[RenderableType] = [head]
    if run.title and gate.title and run.title != gate.title:
        # not "run:", which a shell command's gate title starts with
        parts.append(Text(f"run {run.id} · {run.title}", style="dim"))

    tool = detail.get("tool")
    if tool:
        action = f" ({detail['action']})" if detail.get("action") else ""
        parts.append(Text(f"tool: {tool}{action}"))
    if detail.get("path"):
        parts.append(Text(f"path: {detail['path']}"))
    command = action_command(detail)
    has_preview = any(isinstance(detail.get(k), str) and detail[k].strip()
                      for k in ("preview", "diff"))
    if command is not None:
        parts += [_heading("command"), _code(f"$ {command}", "bash", syntax)]
    elif isinstance(detail.get("input"), dict) and not has_preview:
        parts += [_heading("input"), Text(_value(detail["input"]))]
    for key in ("preview", "diff"):
        text = detail.get(key)
        if isinstance(text, str) and text.strip():
            parts += [_heading(key), _code(text, "diff" if _is_diff(text) else "text", syntax)]
    for key in ("rule", "rules", "reason", "reasons", "breach"):
        value = detail.get(key)
        if value:
            parts += [_heading("rules tripped" if key == "rules" else key)]
            values = value if isinstance(value, list) else [value]
            parts.append(Text("\n".join(f"  • {_rule(v)}" for v in values), style="yellow"))
    if detail.get("approve_means"):
        parts.append(Text(f"approving means: {detail['approve_means']}"))
    if detail.get("plan"):
        parts += [_heading("plan"), Text(_value(detail["plan"]))]
    if detail.get("numstat"):
        parts += [_heading("files changed"), Text(_value(detail["numstat"]))]
    if detail.get("checks"):
        parts += [_heading("checks"), _checks(detail["checks"])]
    if detail.get("satisfaction") is not None:
        line = Text("satisfaction ")
        line.append(f"{float(detail['satisfaction']):.2f}", style="bold")
        if detail.get("threshold") is not None:
            line.append(f" (threshold {float(detail['threshold']):.2f})")
        parts.append(line)
    if detail.get("scenarios"):
        parts += [_heading("scenarios"), _checks(detail["scenarios"])]
    if isinstance(detail.get("spend"), dict) and detail["spend"]:
        spent = ", ".join(f"{k} {float(v):.0%}" for k, v in detail["spend"].items())
        parts.append(Text(f"budget used: {spent}"))
    if isinstance(detail.get("budget"), dict):
        parts.append(Text("budget: " + ", ".join(f"{k} {v}" for k, v in
                                                   detail["budget"].items())))
    if detail.get("files"):
        parts.append(Text("files: " + ", ".join(map(str, detail["files"]))))
    if isinstance(detail.get("detail"), str) and detail["detail"].strip():
        parts += [_heading("detail"), Text(detail["detail"])]
    spec = detail.get("spec")
    if isinstance(spec, dict):
        parts.append(_heading("spec"))
        parts.append(Text(f"{spec.get('title', '')}  {spec.get('path', '')}".strip()))
        if spec.get("body"):
            parts.append(Text(str(spec["body"]).strip(), style="dim"))
    rest = {k: v for k, v in detail.items() if k not in _KNOWN}
    if rest:
        parts += [_heading("more"), Text("\n".join(f"{k}: {_value(v)}" for k, v in
                                                   sorted(rest.items())))]
    raw = detail.get("timeout")
    timeout: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if timeout.get("expired_at"):
        parts.append(Text(f"timed out at {_stamp(timeout['expired_at'])}: held for a person",
                          style="bold red"))
    elif gate.timeout_at is not None:
        then = timeout.get("decision", "hold")
        parts.append(Text(f"times out at {as_utc(gate.timeout_at):%Y-%m-%d %H:%M} UTC "
                          f"({then})", style="dim"))
    return Group(*parts)


class GateDetail(VerticalScroll):
    """The selected gate's detail, scrollable (diffs can be long)."""

    DEFAULT_CSS = """
    GateDetail { padding: 0 1; }
    GateDetail > Static { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static("No gate selected.", id="gate-detail-body")

    def show(self, item: GateItem | None, now: datetime) -> None:
        body = self.query_one("#gate-detail-body", Static)
        if item is None:
            body.update("Nothing needs you. Pending gates show here, oldest first.")
        else:
            body.update(render_gate(item, now, syntax_theme(self.app)))
        self.scroll_home(animate=False)

    def visible_text(self, width: int = 200) -> str:
        """The detail as plain text (what a person reads; tests assert on it)."""
        return plain_text(self.query_one("#gate-detail-body", Static).content, width)  # type: ignore[arg-type]


def plain_text(renderable: RenderableType, width: int = 200) -> str:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()

