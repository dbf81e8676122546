"""Circuit breakers and the external calls they guard, in the process's Prometheus registry.

`circuit_breaker_state{breaker}` is 0 closed, 1 half-open, 2 open, so an alert
is `circuit_breaker_state > 0`; `external_calls{dependency, operation,
outcome}` counts what each call came to (ok, declined, unavailable,
rejected_open, unknown_answer, ...). Made on first use, once per process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from prometheus_client import Counter, Gauge

STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(frozen=True)
class _Instruments:
    state: Gauge
    transitions: Counter
    calls: Counter


@functools.cache
def _instruments() -> _Instruments:
    return _Instruments(
        state=Gauge(
            "circuit_breaker_state",
            "A circuit breaker's state: 0 closed, 1 half-open, 2 open",
            ["breaker"],
        ),
        transitions=Counter(
            "circuit_breaker_transitions",
            "Times a circuit breaker entered a state",
            ["breaker", "state"],
        ),
        calls=Counter(
            "external_calls",
            "Calls to a dependency outside the mesh, by operation and outcome",
            ["dependency", "operation", "outcome"],
        ),
    )


def set_breaker_state(breaker: str, state: str) -> None:
    instruments = _instruments()
    instruments.state.labels(breaker).set(STATE_VALUES[state])
    instruments.transitions.labels(breaker, state).inc()


def count_external_call(dependency: str, operation: str, outcome: str) -> None:
    _instruments().calls.labels(dependency, operation, outcome).inc()
