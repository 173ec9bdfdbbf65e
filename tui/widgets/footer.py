"""The key bar: Textual's compact footer, leaving out the palette hint below 100 columns
so the screen's own keys fit in 80 (the help screen names ctrl+p instead)."""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

WIDE = 100


class KeyBar(Footer):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(compact=True, **kwargs)  # type: ignore[arg-type]

    def on_resize(self, event: events.Resize) -> None:
        self.show_command_palette = event.size.width >= WIDE
