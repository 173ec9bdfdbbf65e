"""Forge weather: what to do when the forge does not answer with what was asked.

Rate limits (primary and secondary), 5xx answers and outages are the forge's weather,
not the run's fault: `ForgeWeather` carries how long the forge asked us to wait (or
None), and `ride_out` holds the run and tries the same call again later, telling the
board the wait. A token the forge refuses, or one without a permission the call needs,
is no weather: `ForgePermission` names the permission, and retrying cannot help.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from andon.engine.errors import UserError

T = TypeVar("T")


class ForgeWeather(Exception):
    """A passing condition (rate limit, 5xx, outage): hold and try again later."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class ForgeError(UserError):
    """The forge refused a request for a reason retrying cannot fix."""


class ForgePermission(ForgeError):
    """The token is missing, refused, or lacks the permission a call needs."""


@dataclass(frozen=True)
class Backoff:
    """Waits when the forge gave no time: first, doubling up to cap (seconds)."""

    first: float = 5.0
    cap: float = 300.0

    def delay(self, tries: int, asked: float | None) -> float:
        if asked is not None:
            return max(0.0, asked)
        return min(self.cap, self.first * (2 ** max(0, tries - 1)))


def ride_out(call: Callable[[], T], *, wait: Callable[[float], None],
             on_hold: Callable[[ForgeWeather, float], None],
             on_clear: Callable[[], None] | None = None,
             backoff: Backoff | None = None) -> T:
    """`call()` until the forge answers; each `ForgeWeather` holds the run for the wait
    the forge asked for (or the backoff's), told through `on_hold(weather, seconds)`.
    `wait` sleeps and raises when the engine is stopping, so a held run resumes later
    from the same point instead of keeping the engine from stopping."""
    backoff = backoff or Backoff()
    tries = 0
    while True:
        try:
            result = call()
        except ForgeWeather as weather:
            tries += 1
            delay = backoff.delay(tries, weather.retry_after)
            on_hold(weather, delay)
            wait(delay)
            continue
        if tries and on_clear is not None:
            on_clear()
        return result


def seconds_until(epoch: float, now: float | None = None) -> float:
    """Seconds from now until a Unix time (a rate limit's reset), never negative."""
    return max(0.0, epoch - (time.time() if now is None else now))
