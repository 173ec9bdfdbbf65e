"""What a run's model calls cost."""

from __future__ import annotations

import typing

import genai_prices
import pytest
from anthropic.types import Model

from andon.engine.llm import pricing
from andon.engine.llm.pricing import PriceConfigError, cost, is_simulated, price_for
from andon.engine.llm.real import DEFAULT_MODEL
from andon.engine.llm.scripted import ScriptedModel

MILLION = {"input_tokens": 1_000_000}


def test_unknown_model_has_no_price_rather_than_zero():
    assert cost("gpt-9", {"input_tokens": 100, "output_tokens": 100}) is None
    assert cost(None, {"input_tokens": 1}) is None
    assert price_for("claude-sonnet-9") is None


def test_every_token_kind_is_priced_separately():
    usage = {
        "input_tokens": 1_000_000,
        "output_tokens": 1_000_000,
        "cache_creation_input_tokens": 1_000_000,
        "cache_read_input_tokens": 1_000_000,
    }
    # Sonnet 4.6: $3 in, $15 out, $3.75 cache write, $0.30 cache read.
    assert cost("claude-sonnet-4-6", usage) == pytest.approx(3 + 15 + 3.75 + 0.30)


def test_one_hour_cache_writes_cost_more_than_five_minute_ones():
    usage = {
        "cache_creation_input_tokens": 1_000_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1_000_000},
    }
    assert cost("claude-opus-5", usage) == pytest.approx(10.0)


def test_dated_model_ids_use_their_family_row():
    assert cost("claude-haiku-4-5-20251001", MILLION) == pytest.approx(1.0)


def test_scripted_runs_show_plausible_but_flagged_money():
    assert pricing.SCRIPTED_PRICED_AS == DEFAULT_MODEL
    price = price_for("scripted")
    assert price is not None and price.simulated
    assert is_simulated("scripted") and not is_simulated(DEFAULT_MODEL)
    assert cost("scripted", MILLION) == cost(DEFAULT_MODEL, MILLION)
    assert not price_for(DEFAULT_MODEL).simulated


def test_cost_reads_the_sdk_usage_object_from_a_scripted_reply():
    reply = ScriptedModel(["hello"]).client().messages.create(
        model="scripted", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    spent = cost(reply.model, reply.usage)
    assert spent is not None and spent > 0


def test_andon_toml_prices_override_and_extend_the_table():
    prices = {
        "claude-sonnet-4-6": {"input": 2.5},
        "my-proxy-model": {"input": 1.0, "output": 2.0},
    }
    assert cost("claude-sonnet-4-6", MILLION, prices) == pytest.approx(2.5)
    assert cost("claude-sonnet-4-6", {"output_tokens": 1_000_000}, prices) == pytest.approx(15)
    assert cost("my-proxy-model", {"cache_read_input_tokens": 1_000_000}, prices) == (
        pytest.approx(0.1)
    )


@pytest.mark.parametrize(
    ("prices", "needle"),
    [
        ({"new-model": {"input": 1.0}}, "needs output"),
        ({"claude-opus-5": {"inputs": 1.0}}, "unknown key(s) ['inputs']"),
        ({"claude-opus-5": {"input": -1}}, "input = -1"),
        ({"claude-opus-5": 3}, "expected a table"),
    ],
)
def test_bad_price_configuration_names_the_table_and_key(prices, needle):
    with pytest.raises(PriceConfigError) as info:
        cost("claude-opus-5", MILLION, prices)
    assert "[prices." in str(info.value) and needle in str(info.value)


# -- the maintained source: genai-prices' bundled data, pinned --------------------------

SDK_MODELS = typing.get_args(typing.get_args(Model)[0])  # the installed SDK's model list
USAGES = [
    {"input_tokens": 1_200, "output_tokens": 800},
    {"input_tokens": 3_000, "output_tokens": 2_000, "cache_read_input_tokens": 40_000,
     "cache_creation_input_tokens": 5_000},
    # a long prompt: past 100k or 200k tokens some models charge every token more
    {"input_tokens": 20_000, "output_tokens": 4_000, "cache_read_input_tokens": 190_000,
     "cache_creation_input_tokens": 10_000},
]


def _package_cost(model: str, usage: dict[str, int]) -> float:
    total = (usage["input_tokens"] + usage.get("cache_read_input_tokens", 0)
             + usage.get("cache_creation_input_tokens", 0))
    return float(genai_prices.calc_price(
        genai_prices.Usage(input_tokens=total, output_tokens=usage["output_tokens"],
                           cache_read_tokens=usage.get("cache_read_input_tokens", 0),
                           cache_write_tokens=usage.get("cache_creation_input_tokens", 0)),
        model_ref=model, provider_id="anthropic").total_price)


def test_the_sdk_models_cost_what_the_pinned_package_says_long_prompts_included():
    priced = [m for m in SDK_MODELS if price_for(m) is not None]
    # the newest models of the SDK's list are all priced (the old table missed some)
    assert {"claude-fable-5-2", "claude-mythos-5-2", "claude-haiku-5-5", "claude-sonnet-5-5",
            "claude-opus-5-5", "claude-haiku-4-5-20251001"} <= set(priced)
    for model in priced:
        for usage in USAGES:
            assert cost(model, usage) == pytest.approx(_package_cost(model, usage)), model


def test_a_long_prompt_pays_the_long_context_rate():
    # Haiku 5.5 in the pinned data: $0.10 per million input tokens, $0.50 past 100k
    assert cost("claude-haiku-5-5", {"input_tokens": 90_000}) == pytest.approx(0.009)
    assert cost("claude-haiku-5-5", {"input_tokens": 150_000}) == pytest.approx(0.075)
    # cache reads count toward the prompt's length
    assert cost("claude-haiku-5-5", {"input_tokens": 10_000,
                                     "cache_read_input_tokens": 140_000}) > 0.005


def test_models_the_package_lacks_have_no_price_until_andon_toml_gives_one():
    assert price_for("claude-mythos-preview") is None
    assert "claude-mythos-preview" in SDK_MODELS
    prices = {"claude-mythos-preview": {"input": 8.0, "output": 40.0}}
    assert cost("claude-mythos-preview", MILLION, prices) == pytest.approx(8.0)
    message = pricing.missing_price("claude-mythos-preview")
    assert '[prices."claude-mythos-preview"]' in message and "input" in message
    assert pricing.package_version() in message


def test_andon_toml_tiers_price_long_prompts():
    prices = {"my-proxy-model": {"input": 1.0, "output": 5.0,
                                 "tiers": [{"above": 200_000, "input": 2.0, "output": 7.5}]}}
    short = {"input_tokens": 200_000, "output_tokens": 1_000}
    long = {"input_tokens": 200_001, "output_tokens": 1_000}
    assert cost("my-proxy-model", short, prices) == pytest.approx(0.2 + 0.005)
    assert cost("my-proxy-model", long, prices) == pytest.approx(200_001 * 2 / 1e6 + 0.0075)
    # a package model's tiers can be replaced too
    mine = {"claude-haiku-5-5": {"tiers": [{"above": 120_000, "input": 0.3}]}}
    assert cost("claude-haiku-5-5", {"input_tokens": 110_000}, mine) == pytest.approx(0.011)
    assert cost("claude-haiku-5-5", {"input_tokens": 130_000}, mine) == pytest.approx(0.039)


@pytest.mark.parametrize(
    ("tiers", "needle"),
    [
        ("big", "tiers = 'big' is not a list"),
        ([{"input": 2.0}], "tiers[1]: above = None"),
        ([{"above": 10, "output": 2.0}], "tiers[1]: a tier needs its input price"),
        ([{"above": 10, "input": 2.0, "speed": 1}], "tiers[1]: unknown key(s) ['speed']"),
        ([{"above": 10, "input": -2.0}], "tiers[1]: input = -2.0"),
    ],
)
def test_bad_tiers_name_the_table_and_the_tier(tiers, needle):
    with pytest.raises(PriceConfigError) as info:
        cost("claude-opus-5", MILLION, {"claude-opus-5": {"tiers": tiers}})
    assert "andon.toml [prices.claude-opus-5]" in str(info.value)
    assert needle in str(info.value)


def test_tiers_in_andon_toml_reach_the_price_table():
    from andon.engine.factory.config import parse

    config = parse('[prices.my-model]\ninput = 1\noutput = 5\n'
                   'tiers = [{ above = 200000, input = 2, output = 7.5 }]\n')
    assert config.price_overrides() == {"my-model": {
        "input": 1.0, "output": 5.0, "tiers": [{"above": 200_000, "input": 2.0, "output": 7.5}]}}
    long = {"input_tokens": 300_000}
    assert cost("my-model", long, config.price_overrides()) == pytest.approx(0.6)
