"""How the agent asks its model: how long a reply may be, and how the model thinks.

* ``max_tokens`` follows the model's own limit, which the Models API gives (asked once
  per model and service, when a run first needs it), capped by the policy's or the
  spec's ``max_tokens``. Where the service cannot say (a proxy without the endpoint,
  the scripted model), the cap applies, or `FALLBACK_MAX_TOKENS`.
* ``thinking``: "adaptive" (the model decides when and how much), "off", or a budget of
  tokens (extended thinking, which must stay below ``max_tokens``). Unset, the model's
  default. Thinking blocks go back to the model with the turn they came in, as the API
  requires across tool use (the agent keeps a reply's blocks as they came).
* ``effort``: low, medium, high, xhigh or max (``output_config.effort``).

A spec's own setting wins over its category's policy.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anthropic

from andon.engine.errors import UserError

FALLBACK_MAX_TOKENS = 8192
_limits: dict[tuple[str, str], int | None] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Asking:
    max_tokens: int | None = None  # the cap; None: the model's limit
    thinking: str | int | None = None
    effort: str | None = None

    @classmethod
    def of(cls, policy: Any, spec_front: Mapping[str, Any] | None) -> Asking:
        """The spec's settings over its category's policy's."""
        front = spec_front or {}

        def pick(key: str) -> Any:
            mine = front.get(key)
            return mine if mine is not None else getattr(policy, key, None)

        return cls(pick("max_tokens"), pick("thinking"), pick("effort"))

    def options(self, limit: int | None) -> dict[str, Any]:
        """The request's max_tokens, thinking and output_config for a model whose
        replies may be `limit` tokens long (None: unknown)."""
        cap = self.max_tokens
        max_tokens = min(limit, cap) if limit and cap else (limit or cap or FALLBACK_MAX_TOKENS)
        options: dict[str, Any] = {"max_tokens": max_tokens}
        if self.thinking == "adaptive":
            options["thinking"] = {"type": "adaptive"}
        elif self.thinking == "off":
            options["thinking"] = {"type": "disabled"}
        elif isinstance(self.thinking, int):
            if self.thinking >= max_tokens:
                raise UserError(f"thinking = {self.thinking} must be below max_tokens "
                                f"({max_tokens}, the model's limit or the policy's or spec's "
                                "max_tokens): lower thinking or raise max_tokens")
            options["thinking"] = {"type": "enabled", "budget_tokens": self.thinking}
        if self.effort:
            options["output_config"] = {"effort": self.effort}
        return options


def model_limit(client: anthropic.Anthropic, model: str) -> int | None:
    """The longest reply `model` may give (the Models API's max_tokens), asked once per
    service and model; None when the service cannot say."""
    key = (str(getattr(client, "base_url", "")), model)
    with _lock:
        if key in _limits:
            return _limits[key]
    try:
        info = client.with_options(max_retries=0).models.retrieve(model)
        limit = info.max_tokens if isinstance(info.max_tokens, int) else None
    except anthropic.AnthropicError:
        return None  # unknown this time (a network fault): asked again next run
    with _lock:
        _limits[key] = limit
    return limit
