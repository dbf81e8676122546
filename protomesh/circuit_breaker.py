"""A circuit breaker for a dependency (the payment provider, another service): stop calling it
while it is down.

Closed: calls pass; `failure_threshold` failures in a row open it. Open: calls
are refused at once (`CircuitOpen`, with the seconds left) for
`reset_timeout` seconds, so a dead provider costs callers nothing and gets no
load. Half-open: one trial call passes (others are refused); its success
closes the circuit, its failure opens it again. Only what the caller reports
as a failure counts: a declined card is an answer, not an outage.

Hand-written rather than a library: pybreaker's async support needs Tornado,
aiobreaker has had no release since 2021, and purgatory (async, maintained)
would bring a dependency and its own storage abstraction for ~60 lines of
state machine. The state goes to Prometheus as `circuit_breaker_state`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from protomesh.telemetry.breaker_metrics import set_breaker_state

CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"


class CircuitOpen(Exception):
    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"circuit {name} is open for {retry_after:.1f}s more")
        self.retry_after = retry_after


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._threshold = failure_threshold
        self._reset_timeout = reset_timeout
        self._clock = clock
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False
        self.state = CLOSED
        set_breaker_state(name, CLOSED)

    def before_call(self) -> None:
        """Raises CircuitOpen when the call must not be made now."""
        if self.state == OPEN:
            left = self._opened_at + self._reset_timeout - self._clock()
            if left > 0:
                raise CircuitOpen(self.name, left)
            self._enter(HALF_OPEN)
        if self.state == HALF_OPEN:
            if self._trial_running:
                raise CircuitOpen(self.name, self._reset_timeout)
            self._trial_running = True

    def succeeded(self) -> None:
        self._trial_running = False
        self._failures = 0
        if self.state != CLOSED:
            self._enter(CLOSED)

    def failed(self) -> None:
        self._trial_running = False
        self._failures += 1
        if self.state == HALF_OPEN or self._failures >= self._threshold:
            self._opened_at = self._clock()
            self._enter(OPEN)

    def _enter(self, state: str) -> None:
        self.state = state
        set_breaker_state(self.name, state)
