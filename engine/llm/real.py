"""The real Anthropic API client, and the provider factory the engine calls.

`make_client("anthropic")` reads ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL when
set, e.g. for a proxy); `make_client("scripted", script=...)` returns a client
served in-process by `engine.llm.scripted.ScriptedModel`.
`model_for(provider, configured)` says which model name to send.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import anthropic

from andon.engine.errors import UserError
from andon.engine.llm.scripted import MODEL_NAME as SCRIPTED_MODEL
from andon.engine.llm.scripted import ScriptedModel

# The newest Sonnet in the SDK's model list (anthropic.types.ModelParam).
DEFAULT_MODEL = "claude-sonnet-5-5"
PROVIDERS = ("anthropic", "scripted")
API_KEY_VAR = "ANTHROPIC_API_KEY"
BASE_URL_VAR = "ANTHROPIC_BASE_URL"


class ProviderError(UserError, ValueError):
    """A provider that cannot be set up (missing key, unknown provider, no script)."""


def real_client(
    *,
    env: Mapping[str, str] | None = None,
    max_retries: int = 2,
    timeout: float = 600.0,
    **kwargs: Any,
) -> anthropic.Anthropic:
    """An SDK client for the real API. Raises ProviderError naming ANTHROPIC_API_KEY."""
    env = os.environ if env is None else env
    api_key = (env.get(API_KEY_VAR) or "").strip()
    if not api_key:
        raise ProviderError(
            f"{API_KEY_VAR} is not set: the 'anthropic' provider needs an API key "
            f"(export {API_KEY_VAR}=... or use model: scripted for a dry run)"
        )
    base_url = (env.get(BASE_URL_VAR) or "").strip() or None
    return anthropic.Anthropic(
        api_key=api_key,
        base_url=base_url,
        max_retries=max_retries,
        timeout=timeout,
        **kwargs,
    )


def make_client(
    provider: str,
    script: Any = None,
    *,
    env: Mapping[str, str] | None = None,
) -> anthropic.Anthropic:
    """A Messages API client for `provider` ("anthropic" or "scripted").

    For "scripted", `script` is a script path, YAML-shaped data, or a ScriptedModel
    (pass the model itself when the caller wants to look at its recorded requests).
    """
    if provider == "anthropic":
        return real_client(env=env)
    if provider == "scripted":
        if script is None:
            raise ProviderError("provider 'scripted' needs a script (a .script.yaml file)")
        model = script if isinstance(script, ScriptedModel) else ScriptedModel(script)
        return model.client()
    raise ProviderError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")


def provider_for_model(model: str | None) -> str:
    """`model: scripted` in a spec selects the scripted provider; anything else the API."""
    return "scripted" if model == SCRIPTED_MODEL else "anthropic"


def model_for(provider: str, configured: str | None = None) -> str:
    """The model name to send: "scripted" for the scripted provider, else the configured one."""
    if provider == "scripted":
        return SCRIPTED_MODEL
    return configured or DEFAULT_MODEL
