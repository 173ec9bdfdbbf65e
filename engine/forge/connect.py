"""Opening the client for a repository's forge, whose library may not be installed."""

from __future__ import annotations

from andon.engine.forge.client import Forge
from andon.engine.forge.settings import ForgeSettings
from andon.engine.forge.weather import ForgeError


def open_forge(settings: ForgeSettings) -> Forge:
    """The client for a repository's forge (the token read from the environment now)."""
    token = settings.token()
    try:
        if settings.kind == "github":
            from andon.engine.forge.github import GitHubForge

            return GitHubForge(settings, token)
        from andon.engine.forge.gitlab import GitLabForge

        return GitLabForge(settings, token)
    except ImportError as exc:
        raise ForgeError(f"delivering through {settings.name} needs the forge extra: "
                         f"pip install 'andon[forge]' ({exc.name} is missing)") from None
