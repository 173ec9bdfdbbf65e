"""What model calls cost, in USD, from the usage the API reports.

Prices come from the `genai-prices` package, pinned in pyproject.toml, and only from
the data it bundles: nothing is fetched at run time, so a cost never depends on the
network and a price change is a reviewed change of the pin. andon.toml's `[prices]`
tables go on top, for a model the package lacks or a price you negotiated::

    [prices.claude-sonnet-5-5]
    cache_read = 0.1          # keys left out keep the package's value

    [prices.my-proxy-model]   # a model the package does not know: input and output
    input = 1.0
    output = 5.0
    tiers = [{ above = 200000, input = 2.0, output = 7.5 }]

Rates are USD per million tokens: input, output, cache write (5-minute, the ephemeral
default), cache read and the 1-hour cache write; left out for a new model, the cache
rates follow the API's usual multipliers of input (write 1.25x, 1-hour write 2x, read
0.1x). A tier's rates apply to every token of a call whose prompt (input plus cache
reads and writes) is above `above` tokens: the long-context price. `tiers` given in
andon.toml replace the package's tiers for that model.

Rules:

* A model with no price costs `None`, never 0: a price we do not know is not free, and
  admission refuses such a model before a run starts (`missing_price` says how to set one).
* Dated model ids (``claude-haiku-4-5-20251001``) use their undated row.
* ``scripted`` is priced as `SCRIPTED_PRICED_AS` (the default Sonnet) so the demo shows
  plausible money; `Price.simulated` is True for it and `is_simulated(model)` says so,
  and the board marks such amounts (e.g. "~$0.04 simulated"). Money from a scripted
  run still counts against the run's budget, so budget gates can be demonstrated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from importlib.metadata import version
from typing import Any

from andon.engine.errors import UserError

SCRIPTED_MODEL = "scripted"
SCRIPTED_PRICED_AS = "claude-sonnet-5-5"  # = engine.llm.real.DEFAULT_MODEL
RATE_KEYS = ("input", "output", "cache_write", "cache_read", "cache_write_1h")
PRICE_KEYS = (*RATE_KEYS, "tiers")
PROVIDER = "anthropic"  # whose prices in the package (also sold by clouds, at theirs)
MTOK = 1_000_000
_GENAI = {"input": "input_mtok", "output": "output_mtok", "cache_write": "cache_write_mtok",
          "cache_read": "cache_read_mtok", "cache_write_1h": "cache_write_1h_mtok"}


class PriceConfigError(UserError, ValueError):
    """A [prices.<model>] table in andon.toml that cannot be used."""


@dataclass(frozen=True)
class Rates:
    input: float
    output: float
    cache_write: float
    cache_read: float
    cache_write_1h: float

    @staticmethod
    def derived(values: Mapping[str, float]) -> Rates:
        """Every rate from `values`, which has at least input and output; the cache
        rates it lacks follow the usual multipliers of input."""
        inp = values["input"]
        return Rates(inp, values["output"], values.get("cache_write", inp * 1.25),
                     values.get("cache_read", inp * 0.1),
                     values.get("cache_write_1h", inp * 2))


@dataclass(frozen=True)
class Price(Rates):
    simulated: bool = False
    tiers: tuple[tuple[int, Rates], ...] = ()  # (above this many prompt tokens, rates)

    @staticmethod
    def of(rates: Rates, tiers: tuple[tuple[int, Rates], ...] = ()) -> Price:
        return Price(rates.input, rates.output, rates.cache_write, rates.cache_read,
                     rates.cache_write_1h, tiers=tiers)

    def at(self, prompt: int) -> Rates:
        """The rates for a call whose prompt has `prompt` tokens."""
        chosen: Rates = self
        for above, rates in self.tiers:
            if prompt > above:
                chosen = rates
        return chosen


def package_version() -> str:
    return version("genai-prices")


def missing_price(model: str) -> str:
    """What to say when a model has no price: how to set one."""
    return (f"model {model!r} has no price (genai-prices {package_version()} does not "
            "list it), so its cost and dollar budget cannot be known: set one in "
            f'andon.toml, e.g. [prices."{model}"] input = 3.0, output = 15.0 '
            "(USD per million tokens)")


# -- the package's data -----------------------------------------------------------------


def bundled(model: str, when: datetime | None = None) -> Price | None:
    """`model`'s price in the package's bundled data (its anthropic rows), in force at
    `when` (now by default); None when it has none."""
    day = (when or datetime.now(UTC)).astimezone(UTC)
    return _bundled(model.lower(), day.date(), day.hour)


@lru_cache(maxsize=512)
def _bundled(model: str, day: date, hour: int) -> Price | None:
    from genai_prices import data_snapshot, types

    try:  # the bundled snapshot: set_custom_snapshot/UpdatePrices are never called here
        _provider, info = data_snapshot.get_snapshot().find_provider_model(
            model, None, PROVIDER, None)
    except LookupError:
        return None
    prices = info.prices
    if isinstance(prices, list):  # conditional prices: the last one in force wins
        when = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
        active = [c.prices for c in prices if c.constraint is None or c.constraint.active(when)]
        prices = (active or [c.prices for c in prices])[-1]
    given = {key: getattr(prices, name, None) for key, name in _GENAI.items()}
    given = {key: value for key, value in given.items() if value is not None}
    if "input" not in given or "output" not in given:
        return None

    def rate(value: Any, prompt: int | None) -> float:
        if isinstance(value, types.TieredPrices):
            chosen: Decimal = value.base
            for tier in value.tiers:
                if prompt is not None and prompt >= tier.start:
                    chosen = tier.price
            return float(chosen)
        return float(value)

    starts = sorted({tier.start for value in given.values()
                     if isinstance(value, types.TieredPrices) for tier in value.tiers})
    tiers = tuple((start, Rates.derived({k: rate(v, start) for k, v in given.items()}))
                  for start in starts)
    return Price.of(Rates.derived({k: rate(v, None) for k, v in given.items()}), tiers)


# -- the table ------------------------------------------------------------------------------

_DATED = re.compile(r"-\d{8}$")


class PriceTable:
    """The package's prices with andon.toml's [prices] overrides applied."""

    def __init__(self, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._overrides: dict[str, Price] = {}
        for model, values in (overrides or {}).items():
            self._overrides[model] = self._merge(model, values)

    def _merge(self, model: str, values: Mapping[str, Any]) -> Price:
        where = f"andon.toml [prices.{model}]"
        if not isinstance(values, Mapping):
            raise PriceConfigError(f"{where}: expected a table of prices per million tokens")
        unknown = set(values) - set(PRICE_KEYS)
        if unknown:
            raise PriceConfigError(
                f"{where}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(PRICE_KEYS)}"
            )
        clean = _rates(where, {k: v for k, v in values.items() if k != "tiers"})
        base = self._builtin(model)
        if base is None:
            missing = [k for k in ("input", "output") if k not in clean]
            if missing:
                raise PriceConfigError(
                    f"{where}: a model with no price in genai-prices needs "
                    f"{' and '.join(missing)}")
            base = Price.of(Rates.derived(clean))
        price = replace(base, **clean)  # type: ignore[arg-type]  # all keys are rates
        if "tiers" in values:
            price = replace(price, tiers=_tiers(where, values["tiers"], price))
        return price

    def price(self, model: str | None) -> Price | None:
        if not model:
            return None
        if model == SCRIPTED_MODEL:
            found = self._overrides.get(SCRIPTED_MODEL) or self._lookup(SCRIPTED_PRICED_AS)
            return replace(found, simulated=True) if found else None
        return self._lookup(model)

    def _lookup(self, model: str) -> Price | None:
        found = self._overrides.get(model) or self._overrides.get(_DATED.sub("", model))
        return found or self._builtin(model)

    @staticmethod
    def _builtin(model: str) -> Price | None:
        return bundled(model) or bundled(_DATED.sub("", model))

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
        rates = price.at(inp + read + written)
        total = (
            inp * rates.input
            + out * rates.output
            + read * rates.cache_read
            + written_5m * rates.cache_write
            + written_1h * rates.cache_write_1h
        )
        return total / MTOK


def _rates(where: str, values: Mapping[str, Any]) -> dict[str, float]:
    clean: dict[str, float] = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise PriceConfigError(f"{where}: {key} = {value!r} is not a price >= 0")
        clean[key] = float(value)
    return clean


def _tiers(where: str, given: Any, base: Price) -> tuple[tuple[int, Rates], ...]:
    if not isinstance(given, list):
        raise PriceConfigError(f"{where}: tiers = {given!r} is not a list of tables")
    tiers = []
    for n, tier in enumerate(given, 1):
        here = f"{where} tiers[{n}]"
        if not isinstance(tier, Mapping):
            raise PriceConfigError(f"{here}: {tier!r} is not a table")
        above = tier.get("above")
        if isinstance(above, bool) or not isinstance(above, int) or above <= 0:
            raise PriceConfigError(f"{here}: above = {above!r} is not a number of tokens > 0")
        unknown = set(tier) - {"above", *RATE_KEYS}
        if unknown:
            raise PriceConfigError(f"{here}: unknown key(s) {sorted(unknown)}; allowed: "
                                   f"above, {', '.join(RATE_KEYS)}")
        rates = _rates(here, {k: v for k, v in tier.items() if k != "above"})
        if "input" not in rates:
            raise PriceConfigError(f"{here}: a tier needs its input price")
        tiers.append((above, Rates.derived({"output": base.output, **rates})))
    return tuple(sorted(tiers, key=lambda t: t[0]))


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

    `prices` is andon.toml's [prices] table (overrides); omit it for the package's prices.
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

