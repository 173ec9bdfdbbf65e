"""Which model a run talks to: the real API, or a script served through the same SDK."""

from __future__ import annotations

from pathlib import Path

import anthropic

from andon.engine.errors import UserError
from andon.engine.factory.home import Home
from andon.store import models as m

SCRIPTED = "scripted"


def provider_of(spec: m.Spec, home: Home) -> tuple[str, str | None]:
    """(provider, model): `model:` in the spec wins, then `[engine] provider` in andon.toml."""
    return home.config.engine.model_for(spec.model)


def open_model(spec: m.Spec, home: Home, *, answered: int = 0
               ) -> tuple[anthropic.Anthropic, str]:
    """A client and the model name to send; the name is "scripted" for scripts.
    `answered`: model turns the run already has (a resumed run); a script goes on after
    them rather than from its first turn."""
    provider, model = provider_of(spec, home)
    if provider == SCRIPTED:
        from andon.engine.llm.scripted import ScriptedModel

        if not spec.script:
            raise UserError(f"spec {spec.path}: model 'scripted' needs a script: name one with "
                            f"'script:' or put {Path(spec.path).stem}.script.yaml beside it")
        scripted = ScriptedModel(Path(spec.script))
        scripted.skip(answered)
        return scripted.client(), SCRIPTED
    from andon.engine.llm.real import DEFAULT_MODEL, real_client

    return real_client(), model or DEFAULT_MODEL


def unpriced(spec_model: str | None, home: Home) -> str | None:
    """Why a spec's runs may not start on price: its model (the spec's `model:`, else
    andon.toml's) has no price, so neither its cost nor a dollar budget could be known;
    None when it has one. The scripted model is always priced (simulated)."""
    from andon.engine.llm.pricing import PriceTable, missing_price
    from andon.engine.llm.real import DEFAULT_MODEL

    provider, model = home.config.engine.model_for(spec_model)
    if provider == SCRIPTED:
        return None
    name = model or DEFAULT_MODEL
    if PriceTable(home.config.price_overrides()).price(name) is not None:
        return None
    return missing_price(name)
