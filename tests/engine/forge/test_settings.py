"""A repository entry's forge: what andon.toml may say, and one clear error otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from andon.engine.errors import UserError
from andon.engine.forge.settings import ForgeSettings, forge_settings
from andon.engine.forge.weather import ForgePermission

WHERE = "/f/andon.toml: [repos.shop]"


def entry(**extra: Any) -> dict[str, Any]:
    return {"path": "/src/shop", "forge": "github", "project": "acme/shop", **extra}


def test_no_forge_means_local_merging() -> None:
    assert forge_settings({"path": "/src/shop"}, WHERE) is None
    assert forge_settings(None, WHERE) is None


def test_defaults_per_forge() -> None:
    gh = forge_settings(entry(), WHERE)
    assert gh == ForgeSettings("github", "acme/shop", "https://api.github.com",
                               "GITHUB_TOKEN", "origin")
    gl = forge_settings(entry(forge="gitlab", project="grp/sub/shop"), WHERE)
    assert gl is not None
    assert (gl.api, gl.token_env, gl.project) == ("https://gitlab.com", "GITLAB_TOKEN",
                                                  "grp/sub/shop")


@pytest.mark.parametrize(("field", "value", "said"), [
    ("forge", "gitea", "'forge' must be \"github\" or \"gitlab\" (got 'gitea')"),
    ("project", "shop", "'project' must be the forge's owner/name (got 'shop')"),
    ("api", "ftp://x", "'api' must be an http(s) URL (got 'ftp://x')"),
    ("token_env", "MY VAR", "'token_env' must be an environment variable's name"),
    ("token_env", "FORGE", "'token_env' must be a name the agent never sees"),
    ("token", "ghp_secret", "'token' must not be in andon.toml"),
    ("reviewers", "alice", "'reviewers' must be a list of GitHub logins"),
])
def test_a_bad_field_gets_one_error_naming_file_field_and_value(
        field: str, value: str, said: str) -> None:
    with pytest.raises(UserError) as caught:
        forge_settings(entry(**{field: value}), WHERE)
    assert str(caught.value).startswith(WHERE) and said in str(caught.value)


def test_a_token_in_andon_toml_is_refused_even_without_a_forge() -> None:
    with pytest.raises(UserError, match=r"'token' must not be in andon\.toml"):
        forge_settings({"path": "/src/shop", "token": "x"}, WHERE)


def test_the_token_comes_from_the_engine_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = forge_settings(entry(token_env="SHOP_TOKEN"), WHERE)
    assert settings is not None
    monkeypatch.delenv("SHOP_TOKEN", raising=False)
    with pytest.raises(ForgePermission, match="set SHOP_TOKEN in the environment"):
        settings.token()
    monkeypatch.setenv("SHOP_TOKEN", "abc")
    assert settings.token() == "abc"


def test_the_agent_environment_never_carries_the_token(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from andon.engine.workspace.environment import scrubbed_env

    monkeypatch.setenv("GITHUB_TOKEN", "ghp_x")
    monkeypatch.setenv("SHOP_TOKEN", "glpat_x")
    env = scrubbed_env()
    assert "GITHUB_TOKEN" not in env and "SHOP_TOKEN" not in env
