"""`andon serve`: run the factory's engine headless (the daemon)."""

from __future__ import annotations

import typer

from andon.tui.cli.app import app, home


@app.command()
def serve(
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="Log only to the home's logs/ folder, not to stdout."),
) -> None:
    """Run the daemon: execute queued runs, recurring specs and the inbox until SIGTERM.

    One engine per home: a second `andon serve` (or a TUI's own engine) refuses, naming
    the running one. SIGTERM or Ctrl-C stops gracefully (runs stay resumable); SIGHUP
    re-reads andon.toml.
    """
    from andon.engine.service.daemon import serve as run_daemon

    raise typer.Exit(run_daemon(home(), stdout=not quiet))
