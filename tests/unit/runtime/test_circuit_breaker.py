"""The circuit breaker's states, on a fake clock."""

from __future__ import annotations

import pytest

from protomesh.circuit_breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_failures_in_a_row_open_it_and_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker("t1", failure_threshold=2, reset_timeout=5, clock=Clock())
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    assert breaker.state == CLOSED
    breaker.failed()
    assert breaker.state == OPEN
    with pytest.raises(CircuitOpen) as refused:
        breaker.before_call()
    assert refused.value.retry_after == 5


def test_after_the_timeout_one_trial_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker("t2", failure_threshold=1, reset_timeout=5, clock=clock)
    breaker.failed()
    clock.now = 5
    breaker.before_call()
    assert breaker.state == HALF_OPEN
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # only one trial at a time
    breaker.failed()
    assert breaker.state == OPEN
    clock.now = 10
    breaker.before_call()
    breaker.succeeded()
    assert breaker.state == CLOSED
    breaker.before_call()
