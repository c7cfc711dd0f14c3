"""The one retry layer (tenacity): transient storage errors only, bounded by attempts and
time, full-jitter exponential backoff, and never sooner than the server's Retry-After.

The SDKs' own retries are off (botocore: one attempt; libcloud: none), so the total budget is
exactly ``attempts`` tries within ``max_seconds`` per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from migrate.errors import TransientStorageError


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    max_seconds: float = 600.0
    base_seconds: float = 0.5
    cap_seconds: float = 30.0


DEFAULT_RETRY = RetryPolicy()
T = TypeVar("T")


class _Wait:
    def __init__(self, policy: RetryPolicy) -> None:
        self._jitter = wait_random_exponential(
            multiplier=policy.base_seconds, max=policy.cap_seconds
        )
        self._cap = policy.max_seconds

    def __call__(self, state: RetryCallState) -> float:
        delay = float(self._jitter(state))
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > delay:
            delay = float(retry_after)
        return min(delay, self._cap)


def retrying(
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[BaseException | None], None] | None = None,
) -> Retrying:
    """A tenacity controller: ``for attempt in retrying(p): with attempt: ...``."""

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            on_retry(state.outcome.exception())

    return Retrying(
        retry=retry_if_exception_type(TransientStorageError),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_seconds),
        wait=_Wait(policy),
        sleep=sleep,
        reraise=True,
        before_sleep=before_sleep,
    )


def retry_call(policy: RetryPolicy, call: Callable[[], T]) -> T:
    """``call()`` under the retry policy (transient errors only)."""
    for attempt in retrying(policy):
        with attempt:
            return call()
    raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises
