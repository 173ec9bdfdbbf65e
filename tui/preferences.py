"""A person's own choices for the control room, kept in their own config folder
(`~/.config/andon/tui.toml`, or where XDG_CONFIG_HOME says), not in the factory's
andon.toml: two people watching one factory each keep their own theme."""

from __future__ import annotations

import logging
import os
import tempfile
import tomllib
from pathlib import Path

import platformdirs
import tomli_w

log = logging.getLogger(__name__)


def preferences_path() -> Path:
    return Path(platformdirs.user_config_dir("andon")) / "tui.toml"


def _read(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:  # a preference is never worth a crash
        log.warning("%s: not read (%s); the default theme is used", path, exc)
        return {}


def load_theme(path: Path | None = None) -> str | None:
    """The theme this person chose last, if any."""
    theme = _read(path or preferences_path()).get("theme")
    return theme if isinstance(theme, str) and theme else None


def save_theme(name: str, path: Path | None = None) -> None:
    """Remember `name` (other preferences in the file are kept); written whole, then
    renamed into place, so a crash never leaves half a file."""
    path = path or preferences_path()
    data = {**_read(path), "theme": name}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(prefix=".tui-", suffix=".toml", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            tomli_w.dump(data, handle)
        os.replace(scratch, path)
    except OSError as exc:
        log.warning("%s: theme not remembered (%s)", path, exc)
