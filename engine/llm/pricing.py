"""What model calls cost, in USD, from the usage the API reports.

Prices are USD per million tokens: input, output, cache write (5-minute, the
ephemeral default) and cache read, plus the 1-hour cache write. The built-in
table follows Anthropic's published pricing pages at the time of writing; any
model can be added or corrected from andon.toml::

    [prices.claude-sonnet-5-5]
    input = 2.0
    output = 10.0
    cache_write = 2.5
    cache_read = 0.1       # keys left out keep the built-in value (or derive, see below)

For a model with no built-in row, `input` and `output` are required; cache prices
then default to the API's usual multipliers (write 1.25x input, 1-hour write 2x,
read 0.1x).

Rules:

* An unknown model costs `None`, never 0: a price we do not know is not free.
* Dated model ids (``claude-haiku-4-5-20251001``) use their undated row.
* ``scripted`` is priced as `SCRIPTED_PRICED_AS` (the default Sonnet) so the demo
  shows plausible money; `Price.simulated` is True for it and `is_simulated(model)`
  says so, and the board should mark such amounts (e.g. "~$0.04 simulated").
  Money from a scripted run still counts against the run's budget, so budget
  gates can be demonstrated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from andon.engine.errors import UserError

SCRIPTED_MODEL = "scripted"
SCRIPTED_PRICED_AS = "claude-sonnet-5-5"  # = engine.llm.real.DEFAULT_MODEL
PRICE_KEYS = ("input", "output", "cache_write", "cache_read", "cache_write_1h")
MTOK = 1_000_000


class PriceConfigError(UserError, ValueError):
    """A [prices.<model>] table in andon.toml that cannot be used."""


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_write: float
    cache_read: float
    cache_write_1h: float
    simulated: bool = False


def _row(inp: float, out: float, write: float, read: float, write_1h: float) -> Price:
    return Price(inp, out, write, read, write_1h)


DEFAULT_PRICES: dict[str, Price] = {
    "claude-fable-5-1": _row(10, 50, 12.5, 0.25, 20),
    "claude-mythos-5-1": _row(10, 50, 12.5, 0.25, 20),
    "claude-fable-5": _row(10, 50, 12.5, 1.0, 20),
    "claude-mythos-5": _row(10, 50, 12.5, 1.0, 20),
    "claude-opus-5-5": _row(4, 20, 5.0, 0.2, 8),
    "claude-opus-5": _row(5, 25, 6.25, 0.5, 10),
    "claude-opus-4-8": _row(5, 25, 6.25, 0.5, 10),
    "claude-opus-4-7": _row(5, 25, 6.25, 0.5, 10),
    "claude-opus-4-6": _row(5, 25, 6.25, 0.5, 10),
    "claude-opus-4-5": _row(5, 25, 6.25, 0.5, 10),
    "claude-opus-4-1": _row(15, 75, 18.75, 1.5, 30),
    "claude-opus-4-0": _row(15, 75, 18.75, 1.5, 30),
    # Sonnet 5.5 cache reads were cut from $0.20 to $0.10 (0.05x input) in Oct 2026.
    "claude-sonnet-5-5": _row(2, 10, 2.5, 0.1, 4),
    "claude-sonnet-5": _row(2, 10, 2.5, 0.2, 4),
    "claude-sonnet-4-6": _row(3, 15, 3.75, 0.3, 6),
    "claude-sonnet-4-5": _row(3, 15, 3.75, 0.3, 6),
    "claude-sonnet-4-0": _row(3, 15, 3.75, 0.3, 6),
    # Haiku 5.5: the band for prompts up to 100k tokens (longer prompts cost more).
    "claude-haiku-5-5": _row(0.1, 0.5, 0.125, 0.01, 0.2),
    "claude-haiku-4-5": _row(1, 5, 1.25, 0.1, 2),
}

_DATED = re.compile(r"-\d{8}$")


class PriceTable:
    """The built-in prices with andon.toml's [prices] overrides applied."""

    def __init__(self, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._prices = dict(DEFAULT_PRICES)
        for model, values in (overrides or {}).items():
            self._prices[model] = self._merge(model, values)

    def _merge(self, model: str, values: Mapping[str, Any]) -> Price:
        where = f"andon.toml [prices.{model}]"
        if not isinstance(values, Mapping):
            raise PriceConfigError(f"{where}: expected a table of prices per million tokens")
        unknown = set(values) - set(PRICE_KEYS)
        if unknown:
            raise PriceConfigError(
                f"{where}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(PRICE_KEYS)}"
            )
        clean: dict[str, float] = {}
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise PriceConfigError(f"{where}: {key} = {value!r} is not a price >= 0")
            clean[key] = float(value)
        base = self._prices.get(model)
        if base is None:
            missing = [k for k in ("input", "output") if k not in clean]
            if missing:
                raise PriceConfigError(
                    f"{where}: a model with no built-in price needs {' and '.join(missing)}"
                )
            inp = clean["input"]
            base = Price(inp, clean["output"], inp * 1.25, inp * 0.1, inp * 2)
        return replace(base, **clean)  # type: ignore[arg-type]  # mypy reads ** as the flag field; all keys are prices

    def price(self, model: str | None) -> Price | None:
        if not model:
            return None
        if model == SCRIPTED_MODEL:
            found = self._prices.get(SCRIPTED_MODEL)
            if found is not None:
                return replace(found, simulated=True)
            found = self._lookup(SCRIPTED_PRICED_AS)
            return replace(found, simulated=True) if found else None
        return self._lookup(model)

    def _lookup(self, model: str) -> Price | None:
        found = self._prices.get(model)
        if found is None:
            found = self._prices.get(_DATED.sub("", model))
        return found

    def cost(self, model: str | None, usage: Any) -> float | None:
        price = self.price(model)
        if price is None or usage is None:
            return None
        inp = _get(usage, "input_tokens")
        out = _get(usage, "output_tokens")
        read = _get(usage, "cache_read_input_tokens")
        written = _get(usage, "cache_creation_input_tokens")
        detail = _get_obj(usage, "cache_creation")
        written_1h = _get(detail, "ephemeral_1h_input_tokens") if detail is not None else 0
        written_5m = max(0, written - written_1h)
        total = (
            inp * price.input
            + out * price.output
            + read * price.cache_read
            + written_5m * price.cache_write
            + written_1h * price.cache_write_1h
        )
        return total / MTOK


def _get_obj(usage: Any, key: str) -> Any:
    if isinstance(usage, Mapping):
        return usage.get(key)
    return getattr(usage, key, None)


def _get(usage: Any, key: str) -> int:
    value = _get_obj(usage, key)
    return int(value) if value else 0


_DEFAULT_TABLE = PriceTable()


def cost(
    model: str | None, usage: Any, prices: Mapping[str, Mapping[str, Any]] | None = None
) -> float | None:
    """USD for one response's usage (SDK Usage object or dict); None if the model is unknown.

    `prices` is andon.toml's [prices] table (overrides); omit it for the built-in prices.
    """
    table = _DEFAULT_TABLE if prices is None else PriceTable(prices)
    return table.cost(model, usage)


def price_for(
    model: str | None, prices: Mapping[str, Mapping[str, Any]] | None = None
) -> Price | None:
    table = _DEFAULT_TABLE if prices is None else PriceTable(prices)
    return table.price(model)


def is_simulated(model: str | None) -> bool:
    """True for money computed for the scripted model (shown, but not real spend)."""
    return model == SCRIPTED_MODEL
