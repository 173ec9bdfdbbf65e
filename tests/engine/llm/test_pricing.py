"""What a run's model calls cost."""

from __future__ import annotations

import pytest

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
