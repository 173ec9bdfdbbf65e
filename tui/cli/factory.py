"""Commands about the factory itself: init."""

from __future__ import annotations

from andon.tui.cli.app import app, console, home


@app.command()
def init() -> None:
    """Create the factory's home (database, andon.toml, folders), or bring it up to date."""
    h = home()
    existed = h.exists()
    db = h.init()
    db.close()
    verb = "up to date" if existed else "created"
    console.print(f"factory home {verb}: {h.root}")
