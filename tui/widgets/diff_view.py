"""A run's diff: the changed files on the left, the chosen file's hunks on the right,
syntax-highlighted by the file's language with added and removed lines tinted."""

from __future__ import annotations

from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, OptionList, RichLog
from textual.widgets.option_list import Option

from andon.tui.data import DiffData, FileDiff
from andon.tui.widgets.colours import DARK, DiffColours, diff_colours

MAX_HIGHLIGHT = 200_000  # characters: larger files are shown without colouring code


def _lexer(path: str, code: str) -> str:
    try:
        return Syntax.guess_lexer(path, code=code[:2000])
    except Exception:  # pygments may not know the file
        return "text"


def highlight(file: FileDiff, colours: DiffColours = DARK) -> Text:
    """The file's hunks as Text: code coloured by its language, +/- lines tinted, in
    the colours of the app's theme."""
    lines = file.text.split("\n") if file.text else []
    if not lines:
        return Text(f"({file.status}: no text changes)", style="dim italic")
    code_lines = [ln[1:] if ln[:1] in "+- " else "" for ln in lines]
    code = "\n".join(code_lines)
    if len(code) <= MAX_HIGHLIGHT:
        syntax = Syntax("", _lexer(file.path, code), theme=colours.syntax)
        coloured: list[Text] = list(syntax.highlight(code).split("\n", allow_blank=True))
    else:
        coloured = [Text(ln) for ln in code_lines]
    out = Text(no_wrap=True, overflow="crop")
    for raw, painted in zip(lines, coloured, strict=False):
        if raw.startswith("@@"):
            out.append(raw, style=colours.hunk)
        elif raw.startswith("\\"):
            out.append(raw, style="dim italic")
        else:
            mark = raw[:1] or " "
            piece = Text(mark)
            piece.append_text(painted)
            piece.rstrip()
            if mark == "+":
                piece.stylize(colours.added_mark, 0, 1)
                piece.stylize(colours.added)
            elif mark == "-":
                piece.stylize(colours.removed_mark, 0, 1)
                piece.stylize(colours.removed)
            out.append_text(piece)
        out.append("\n")
    out.rstrip()
    return out


def _file_label(file: FileDiff) -> Text:
    label = Text(no_wrap=True, overflow="ellipsis")
    label.append(f"+{file.added}", style="green")
    label.append(" ")
    label.append(f"-{file.removed}", style="red")
    label.append(" ")
    label.append(file.path)
    if file.status in ("added", "deleted", "renamed", "binary", "link"):
        label.append(f" ({file.status})", style="dim")
    return label


class DiffView(Vertical):
    DEFAULT_CSS = """
    DiffView { height: 1fr; }
    DiffView #diff-source { height: 1; color: $text-muted; padding: 0 1; }
    DiffView OptionList { width: 30%; min-width: 18; max-width: 48; height: 1fr;
                          border: none; border-right: vkey $panel; padding: 0;
                          text-wrap: nowrap; text-overflow: ellipsis; }
    DiffView OptionList:focus { border: none; border-right: vkey $accent; }
    DiffView.-empty Horizontal { display: none; }
    DiffView RichLog { width: 1fr; height: 1fr; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.diff: DiffData | None = None
        self._shown: str | None = None

    def compose(self) -> ComposeResult:
        yield Label("loading the diff…", id="diff-source", markup=False)
        with Horizontal():
            yield OptionList(id="diff-files")
            yield RichLog(id="diff-body", wrap=False, highlight=False, markup=False,
                          auto_scroll=False)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        """Paint the shown file again in the new theme's colours."""
        self._shown = None
        files = self.query_one(OptionList)
        if self.diff is not None and self.diff.files:
            self._show_file(files.highlighted or 0)

    def show(self, diff: DiffData) -> None:
        same = self.diff is not None and [(f.path, f.text) for f in self.diff.files] == [
            (f.path, f.text) for f in diff.files]
        self.diff = diff
        total_add = sum(f.added for f in diff.files)
        total_del = sum(f.removed for f in diff.files)
        summary = (f"{len(diff.files)} file{'s' if len(diff.files) != 1 else ''} "
                   f"+{total_add} -{total_del}")
        parts = [p for p in (diff.source, summary if diff.files else "", diff.note) if p]
        self.query_one("#diff-source", Label).update(" · ".join(parts))
        self.set_class(not diff.files, "-empty")
        if same:
            return
        files = self.query_one(OptionList)
        highlighted = files.highlighted
        files.clear_options()
        files.add_options([Option(_file_label(f), id=str(i)) for i, f in enumerate(diff.files)])
        if diff.files:
            files.highlighted = min(highlighted or 0, len(diff.files) - 1)
            self._show_file(files.highlighted or 0)
        else:
            body = self.query_one(RichLog)
            body.clear()
            self._shown = None

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self._show_file(event.option_index)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one(RichLog).focus()

    def _show_file(self, index: int) -> None:
        if self.diff is None or not 0 <= index < len(self.diff.files):
            return
        file = self.diff.files[index]
        if self._shown == f"{index}:{file.path}:{len(file.text)}":
            return
        self._shown = f"{index}:{file.path}:{len(file.text)}"
        body = self.query_one(RichLog)
        body.clear()
        body.write(highlight(file, diff_colours(self.app)), expand=True, shrink=False,
                   scroll_end=False)
        body.scroll_home(animate=False)
