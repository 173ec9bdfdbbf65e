"""Confidence bounds on rates from small counts: the statistics of the readiness report.

A rate seen in a few dozen runs says little by itself; a lead needs to know how high
the true rate may still be. Three tools, all at 95% unless told otherwise:

- `wilson`: the Wilson score interval of a proportion (Wilson 1927), two-sided. It
  stays inside [0, 1] and behaves at 0 and n, unlike the normal approximation; used
  for shadow agreement.
- `clopper_pearson`: the exact binomial interval (Clopper and Pearson 1934), two-sided,
  from the beta distribution's quantiles; conservative, used for the costly errors.
- `upper_bound`: what the report quotes for a costly error (false merges, reverts):
  the rule of three (3/n, Hanley and Lippman-Hand 1983) when nothing went wrong in n
  tries, the exact upper limit otherwise. 0 of 140 -> 2.1%, 1 of 152 -> 3.6%.

Pure Python (no SciPy): the regularized incomplete beta function by its continued
fraction (Lentz's method, as in Numerical Recipes, 6.4) and bisection for its inverse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The two-sided 95% normal quantile (1.96 to two places).
Z95 = 1.959963984540054
CONFIDENCE = 0.95

_EPS = 1e-15
_TINY = 1e-300
_MAX_TERMS = 10_000


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.low:.1%} .. {self.high:.1%}"


def rate(successes: int, trials: int) -> float | None:
    """successes / trials, or None when there were no trials."""
    _check(successes, trials)
    return successes / trials if trials else None


def wilson(successes: int, trials: int, z: float = Z95) -> Interval | None:
    """The Wilson score interval of successes/trials; None for no trials."""
    _check(successes, trials)
    if trials == 0:
        return None
    n, p = trials, successes / trials
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # At 0 and n the exact ends are 0 and 1; rounding must not move them.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


def clopper_pearson(successes: int, trials: int,
                    confidence: float = CONFIDENCE) -> Interval | None:
    """The exact (Clopper-Pearson) two-sided interval; None for no trials."""
    _check(successes, trials)
    if trials == 0:
        return None
    alpha = 1 - confidence
    x, n = successes, trials
    low = 0.0 if x == 0 else beta_quantile(alpha / 2, x, n - x + 1)
    high = 1.0 if x == n else beta_quantile(1 - alpha / 2, x + 1, n - x)
    return Interval(low, high)


def upper_bound(events: int, trials: int, confidence: float = CONFIDENCE) -> float | None:
    """How high the rate of a costly error may be: the rule of three at zero events (at
    95%), the exact upper limit otherwise; None for no trials."""
    _check(events, trials)
    if trials == 0:
        return None
    if events == 0 and confidence == CONFIDENCE:
        return min(1.0, 3 / trials)
    interval = clopper_pearson(events, trials, confidence)
    assert interval is not None
    return interval.high


def trials_needed(max_rate: float, events: int = 0) -> int:
    """The smallest n at which `events` errors in n tries keep the upper bound at or
    under max_rate (for "N more runs" in a recommendation)."""
    if not 0 < max_rate < 1:
        raise ValueError(f"max_rate must be between 0 and 1 (got {max_rate})")
    if events == 0:
        return math.ceil(3 / max_rate - 1e-9)
    low, high = events + 1, max(events + 1, 16)
    while (upper_bound(events, high) or 1.0) > max_rate:
        low, high = high, high * 2
    while low < high:  # the bound falls as n grows: the first n under the line
        mid = (low + high) // 2
        if (upper_bound(events, mid) or 1.0) <= max_rate:
            high = mid
        else:
            low = mid + 1
    return low


# -- the beta distribution ----------------------------------------------------------------


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if not (a > 0 and b > 0):
        raise ValueError(f"beta parameters must be positive (got a={a}, b={b})")
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    # The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the
    # symmetry I_x(a, b) = 1 - I_{1-x}(b, a) on the other side.
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(x, a, b) / a
    return 1 - math.exp(log_front) * _beta_fraction(1 - x, b, a) / b


def beta_quantile(q: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = q, by bisection (the CDF rises monotonically)."""
    if not 0 <= q <= 1:
        raise ValueError(f"quantile must be between 0 and 1 (got {q})")
    low, high = 0.0, 1.0
    for _ in range(200):
        mid = (low + high) / 2
        if beta_cdf(mid, a, b) < q:
            low = mid
        else:
            high = mid
        if high - low < 1e-13:
            break
    return (low + high) / 2


def _beta_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_TERMS):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                          -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > _TINY else _TINY)
            c = 1 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            step = d * c
            h *= step
        if abs(step - 1) < _EPS:
            return h
    raise ArithmeticError(f"incomplete beta did not converge (x={x}, a={a}, b={b})")


def _check(successes: int, trials: int) -> None:
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials (got {successes} of {trials})")
