"""Command palette providers (ctrl+p): every action of the app and the current screen,
and any run by number or title.

Screens offer their actions with a `palette_commands()` method returning
`PaletteCommand`s (the app does too); `ActionCommands` lists those that apply now.
`RunCommands` searches the store in a thread so the palette stays quick with 100,000 runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content
from textual.markup import escape

from andon.store import queries as q

if TYPE_CHECKING:
    from andon.tui.app import AndonApp


@dataclass(frozen=True)
class PaletteCommand:
    name: str
    help: str
    run: Callable[[], Any]


def _highlight(matcher: Matcher, name: str) -> Content:
    """`Matcher.highlight` reads the name as markup; a run's title is not markup."""
    content = Content(name)
    score, offsets = matcher.fuzzy_search.match(matcher.query, name)
    if not score:
        return content
    for offset in offsets:
        if not name[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


def _help(text: str) -> str:
    """The palette reads a hit's help as markup: escape what a person or model wrote."""
    return escape(text)


def _commands_of(node: Any) -> list[PaletteCommand]:
    offer = getattr(node, "palette_commands", None)
    return list(offer()) if callable(offer) else []


class ActionCommands(Provider):
    """The current screen's actions first, then the app's."""

    def _all(self) -> list[PaletteCommand]:
        return _commands_of(self.screen) + _commands_of(self.app)

    async def discover(self) -> Hits:
        for command in self._all():
            yield DiscoveryHit(Content(command.name), command.run, text=command.name,
                               help=_help(command.help))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._all():
            score = max(matcher.match(command.name), matcher.match(command.help) * 0.5)
            if score > 0:
                yield Hit(score, _highlight(matcher, command.name), command.run,
                          text=command.name, help=_help(command.help))


class RunCommands(Provider):
    """"12", "#12" or words of a title: open that run."""

    async def search(self, query: str) -> Hits:
        text = query.strip()
        if len(text) < 1:
            return
        app = cast("AndonApp", self.app)
        runs = await asyncio.to_thread(q.search_runs, app.db, text=text, limit=20)
        matcher = self.matcher(text)
        for run in runs:
            name = f"Open run #{run.id}: {run.title}"
            score = 1.0 if text.lstrip("#") == str(run.id) else max(
                matcher.match(name), 0.3)
            yield Hit(score, _highlight(matcher, name), partial(app.open_run, run.id or 0),
                      text=name, help=_help(f"{run.status} · {run.category} · level {run.level}"))
