"""A repository's forge, as andon.toml names it::

    [repos.shop]
    path = "~/src/shop"
    base = "main"
    forge = "github"              # or "gitlab"
    project = "acme/shop"         # the forge's owner/name (GitLab: group/.../name)
    remote = "origin"             # the git remote the run's branch is pushed to
    # api = "https://github.example.com/api/v3"   # self-hosted; defaults to the public one
    # token_env = "GITHUB_TOKEN"  # the engine's environment variable holding the token
    reviewers = ["alice"]         # forge logins whose approval there counts as review

The token itself never lives in andon.toml (a `token` key there is refused) and never
reaches the agent: the agent's environment drops every variable that looks like a
credential, and `token_env` must be one of those names.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from andon.engine.errors import UserError
from andon.engine.forge.weather import ForgePermission

FORGES = ("github", "gitlab")
NAMES = {"github": "GitHub", "gitlab": "GitLab"}
DEFAULT_API = {"github": "https://api.github.com", "gitlab": "https://gitlab.com"}
DEFAULT_TOKEN_ENV = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_WORDS = ("TOKEN", "KEY", "SECRET", "PASSWORD", "CREDENTIAL", "AUTH")


@dataclass(frozen=True)
class ForgeSettings:
    kind: str  # "github" or "gitlab"
    project: str
    api: str
    token_env: str
    remote: str = "origin"
    reviewers: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return NAMES[self.kind]

    def token(self) -> str:
        """The token from the engine's environment; a clear error when it is not set."""
        value = os.environ.get(self.token_env, "").strip()
        if not value:
            raise ForgePermission(
                f"{self.name} token missing: set {self.token_env} in the environment of "
                f"the engine (`andon serve`) to a token for {self.project}")
        return value


def forge_settings(entry: dict[str, Any] | None, where: str) -> ForgeSettings | None:
    """The forge a repository entry names, or None (local merging). `where` names the
    entry in errors, e.g. "~/.andon/andon.toml: [repos.shop]"."""
    if not entry or entry.get("forge") is None:
        if entry and "token" in entry:
            raise UserError(f"{where}: 'token' must not be in andon.toml")
        return None
    kind = entry["forge"]
    if kind not in FORGES:
        raise UserError(f"{where}: 'forge' must be \"github\" or \"gitlab\" (got {kind!r})")
    if "token" in entry:
        raise UserError(f"{where}: 'token' must not be in andon.toml: put the token in "
                        f"the engine's environment and name the variable with 'token_env' "
                        f"(default {DEFAULT_TOKEN_ENV[kind]})")
    project = entry.get("project")
    if not isinstance(project, str) or project.count("/") < 1 or "" in project.split("/"):
        raise UserError(f"{where}: 'project' must be the forge's owner/name "
                        f"(got {project!r})")
    api = entry.get("api", DEFAULT_API[kind])
    if not isinstance(api, str) or not api.startswith(("https://", "http://")):
        raise UserError(f"{where}: 'api' must be an http(s) URL (got {api!r})")
    token_env = entry.get("token_env", DEFAULT_TOKEN_ENV[kind])
    if not isinstance(token_env, str) or not _ENV_NAME.fullmatch(token_env):
        raise UserError(f"{where}: 'token_env' must be an environment variable's name "
                        f"(got {token_env!r})")
    if not any(word in token_env.upper() for word in _SECRET_WORDS):
        # the agent's environment drops variables by such names: anything else could leak
        raise UserError(f"{where}: 'token_env' must be a name the agent never sees: one "
                        f"containing TOKEN, KEY or SECRET (got {token_env!r})")
    remote = entry.get("remote", "origin")
    if not isinstance(remote, str) or not remote.strip():
        raise UserError(f"{where}: 'remote' must be a git remote's name or URL "
                        f"(got {remote!r})")
    reviewers = entry.get("reviewers", [])
    if not isinstance(reviewers, list) or not all(
            isinstance(r, str) and r.strip() for r in reviewers):
        raise UserError(f"{where}: 'reviewers' must be a list of {NAMES[kind]} logins "
                        f"(got {reviewers!r})")
    return ForgeSettings(kind=kind, project=project.strip("/"), api=api.rstrip("/"),
                         token_env=token_env, remote=remote,
                         reviewers=tuple(r.strip() for r in reviewers))
