"""The readiness statistics against published values.

Wilson and exact (Clopper-Pearson) 95% intervals: Newcombe, "Two-sided confidence
intervals for the single proportion", Statistics in Medicine 17 (1998), Table I
(methods 3 and 5), to the four places printed there; the issue's worked examples for
the bounds a recommendation quotes.
"""

from __future__ import annotations

import pytest

from andon.engine.readiness.stats import (
    beta_cdf,
    beta_quantile,
    clopper_pearson,
    rate,
    trials_needed,
    upper_bound,
    wilson,
)

NEWCOMBE = [  # successes, trials, Wilson (low, high), exact (low, high)
    (81, 263, (0.2553, 0.3662), (0.2527, 0.3676)),
    (15, 148, (0.0624, 0.1605), (0.0578, 0.1617)),
    (0, 20, (0.0, 0.1611), (0.0, 0.1684)),
    (1, 29, (0.0061, 0.1718), (0.0009, 0.1776)),
]


@pytest.mark.parametrize(("x", "n", "wilson_ci", "exact_ci"), NEWCOMBE)
def test_intervals_match_newcombes_table(x: int, n: int, wilson_ci: tuple[float, float],
                                         exact_ci: tuple[float, float]) -> None:
    w, e = wilson(x, n), clopper_pearson(x, n)
    assert w is not None and e is not None
    assert (round(w.low, 4), round(w.high, 4)) == wilson_ci
    assert (round(e.low, 4), round(e.high, 4)) == exact_ci


def test_intervals_at_the_ends_are_exact() -> None:
    assert wilson(10, 10) is not None and wilson(10, 10).high == 1.0  # type: ignore[union-attr]
    assert clopper_pearson(0, 10).low == 0.0  # type: ignore[union-attr]
    # the exact upper limit at 0 of n is 1 - (alpha/2)^(1/n)
    assert clopper_pearson(0, 10).high == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-9)  # type: ignore[union-attr]
    assert clopper_pearson(5, 10).low == pytest.approx(0.187086, abs=1e-6)  # type: ignore[union-attr]


def test_upper_bounds_as_the_issue_quotes_them() -> None:
    assert round(upper_bound(1, 152) or 0, 3) == 0.036  # "1 of 152 (at most 3.6%)"
    assert round(upper_bound(0, 140) or 0, 3) == 0.021  # "0 in 140 merges (at most 2.1%)"
    assert upper_bound(0, 150) == pytest.approx(0.02)  # the rule of three: 3/n


def test_no_trials_has_no_rate_and_no_bound() -> None:
    assert rate(0, 0) is None and wilson(0, 0) is None and upper_bound(0, 0) is None


def test_impossible_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="3 of 2"):
        wilson(3, 2)


def test_trials_needed_is_the_first_n_under_the_line() -> None:
    assert trials_needed(0.02) == 150  # "about 150 clean merges"
    n = trials_needed(0.05, events=1)
    assert (upper_bound(1, n) or 1) <= 0.05 < (upper_bound(1, n - 1) or 1)


def test_beta_function_against_closed_forms() -> None:
    assert beta_cdf(0.3, 1, 1) == pytest.approx(0.3)  # uniform
    assert beta_cdf(0.5, 2, 3) == pytest.approx(0.6875)  # (6 + 4 + 1) / 16
    assert beta_cdf(0.9, 30, 2) == pytest.approx(31 * 0.9**30 - 30 * 0.9**31)
    assert beta_quantile(0.6875, 2, 3) == pytest.approx(0.5, abs=1e-9)


def test_large_counts_stay_fast_and_tight() -> None:
    interval = clopper_pearson(50, 100_000)
    assert interval is not None
    assert (round(interval.low, 6), round(interval.high, 6)) == (0.000371, 0.000659)
