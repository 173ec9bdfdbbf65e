"""What every modal shares: it owns the keys while it shows.

Below a modal the screen's key bar would still list that screen's keys, which do nothing
now; a dialog shows its own key bar instead, and `?` opens the help for the dialog's
keys (the app's `?` does not reach through a modal).
"""

from __future__ import annotations

from typing import TypeVar

from textual.binding import Binding
from textual.screen import ModalScreen

from andon.tui.widgets.footer import KeyBar

Result = TypeVar("Result")


#: `?` in a dialog: put it last in the dialog's BINDINGS, after the keys that answer it.
HELP_KEY = Binding("question_mark", "app.help", "Help", key_display="?",
                   tooltip="The keys of this dialog")


class Dialog(ModalScreen[Result]):

    def key_bar(self) -> KeyBar:
        """The dialog's own key bar: yield it last from `compose`."""
        return KeyBar()
