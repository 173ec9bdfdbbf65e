"""Keeping a run alive through API weather, and failing it clearly when retrying is useless.

`call_with_retries(fn)` calls `fn()` (one model request, e.g. a lambda around
``client.messages.create`` or one that drives a stream to its final message); the
model client turns the SDK's own retries off, so every retry is one of these, told to
`on_wait` (the run's log) and reading retry-after once:

* 429 rate limited, 529 overloaded, other 5xx, 408 and 409, and in-stream
  ``overloaded_error`` / ``api_error`` / ``rate_limit_error`` events: waits and
  tries again. The wait honours the ``retry-after-ms`` / ``retry-after`` header
  (seconds or an HTTP date); without one it backs off exponentially
  (1 s, 2 s, 4 s ... capped at 60 s, with a little jitter).
* Network outage (APIConnectionError, timeouts, transport errors): waits and tries
  again with a longer backoff (5 s, 10 s, 20 s ... capped at 120 s).
* 400, 401, 403, 404, 413, 422 and other client errors: raises `ModelCallFailed`
  carrying the API's own message; retrying cannot help, the run fails.
* ``x-should-retry: true`` or ``false`` on a response overrides the two rules above,
  as it does for the SDK's own retries.
* A reply stream that ends before ``message_stop`` (`StreamInterrupted`) is a dropped
  connection: retried like a network outage, never taken as a finished reply.

Every wait is bounded by `max_wait` (total seconds slept inside one call; default
15 minutes). When the next wait would cross it, `ModelUnavailable` is raised
instead: the caller holds the run (it is not the run's fault) and can try the
same turn again later; `ModelUnavailable.retry_after` says when the API asked for.
`on_wait(Wait)` is told about each wait before it starts, so the run log can show
"model overloaded (529), retrying in 4s".
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import anthropic
import httpx2

T = TypeVar("T")

RETRYABLE_STATUS = {408, 409, 429}
RETRYABLE_TYPES = {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}
STATUS_BACKOFF = (1.0, 60.0)  # first wait, cap (seconds)
NETWORK_BACKOFF = (5.0, 120.0)
DEFAULT_MAX_WAIT = 900.0


class StreamInterrupted(Exception):
    """A reply stream that ended before its message_stop: the connection dropped
    mid-reply, so what arrived is not a finished reply (retried like a network fault)."""


class ModelCallFailed(Exception):
    """The API refused the request for a reason retrying cannot fix; the run fails."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_type = error_type
        self.request_id = request_id


class ModelUnavailable(Exception):
    """The API cannot be reached or keeps refusing for now; hold the run and retry later."""

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        waited: float,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        self.waited = waited
        self.retry_after = retry_after
        self.status_code = status_code


@dataclass(frozen=True)
class Wait:
    """One wait before a retry, as told to `on_wait`."""

    attempt: int  # the attempt that just failed (1-based)
    delay: float  # seconds about to be slept
    reason: str  # human text, e.g. "model overloaded (529)"
    status_code: int | None  # None for network errors
    retry_after: float | None  # what the server asked for, if it did


def parse_retry_after(headers: Any, *, now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait, from retry-after-ms or retry-after; None if absent."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def _api_message(exc: anthropic.APIStatusError) -> str:
    return getattr(exc, "api_message", None) or exc.message


def _describe(exc: anthropic.APIStatusError) -> str:
    status = exc.status_code
    kind = getattr(exc, "type", None)
    if status == 429 or kind == "rate_limit_error":
        return f"rate limited ({status})"
    if status == 529 or kind == "overloaded_error":
        return f"model overloaded ({status})"
    return f"API error {status}" + (f" {kind}" if kind else "")


def _is_retryable(exc: anthropic.APIStatusError) -> bool:
    # the API's own word wins, as the SDK's retries honour it
    should = (exc.response.headers.get("x-should-retry") or "").strip().lower()
    if should in ("true", "false"):
        return should == "true"
    if exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500:
        return True
    # An `error` event inside a 200 stream carries its type only in the body.
    return exc.status_code < 400 and getattr(exc, "type", None) in RETRYABLE_TYPES


def _backoff(n: int, first: float, cap: float, rng: random.Random) -> float:
    return min(cap, first * (2 ** (n - 1))) * rng.uniform(0.8, 1.0)


def call_with_retries(
    fn: Callable[[], T],
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[Wait], None] | None = None,
    max_wait: float = DEFAULT_MAX_WAIT,
    rng: random.Random | None = None,
) -> T:
    """Call `fn` until it succeeds, fails for good (ModelCallFailed) or the wait budget
    is spent (ModelUnavailable). See the module docstring for the policy."""
    rng = rng or random.Random()
    attempt = 0
    status_failures = 0
    network_failures = 0
    waited = 0.0
    while True:
        attempt += 1
        try:
            return fn()
        except anthropic.APIStatusError as exc:
            if not _is_retryable(exc):
                raise ModelCallFailed(
                    f"the API refused the request ({exc.status_code}"
                    + (f" {exc.type}" if getattr(exc, "type", None) else "")
                    + f"): {_api_message(exc)}",
                    status_code=exc.status_code,
                    error_type=getattr(exc, "type", None),
                    request_id=getattr(exc, "request_id", None),
                ) from exc
            status_failures += 1
            retry_after = parse_retry_after(exc.response.headers)
            delay = (
                retry_after
                if retry_after is not None
                else _backoff(status_failures, *STATUS_BACKOFF, rng)
            )
            reason = _describe(exc)
            status: int | None = exc.status_code
            cause: Exception = exc
        except (anthropic.APIConnectionError, httpx2.TransportError,
                StreamInterrupted) as exc:
            network_failures += 1
            retry_after = None
            delay = _backoff(network_failures, *NETWORK_BACKOFF, rng)
            reason = ("reply interrupted (the stream ended before message_stop)"
                      if isinstance(exc, StreamInterrupted)
                      else f"cannot reach the API ({type(exc).__name__})")
            status = None
            cause = exc
        if waited + delay > max_wait:
            raise ModelUnavailable(
                f"{reason}; gave up after {attempt} attempt(s) and {waited:.0f}s of waiting",
                attempts=attempt,
                waited=waited,
                retry_after=retry_after,
                status_code=status,
            ) from cause
        if on_wait is not None:
            on_wait(Wait(attempt, delay, reason, status, retry_after))
        sleep(delay)
        waited += delay
