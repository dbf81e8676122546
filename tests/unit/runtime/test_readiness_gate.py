"""While a required dependency is down, calls are refused at once with a retry hint;
the health service still answers, and calls pass again once the dependency is back."""

from __future__ import annotations

import pytest

from protomesh import errors
from protomesh.interceptors.readiness_gate import ReadinessGate
from tests.unit.runtime.interceptor_calls import Reply, call

METHOD = "/shop.order.v1.OrderService/PlaceOrder"


async def test_a_call_is_refused_unavailable_while_the_database_is_down() -> None:
    down = {"postgres"}
    gate = ReadinessGate(lambda: down, retry_after=1.0)

    with pytest.raises(errors.Unavailable) as refused:
        await call(gate, METHOD)

    assert refused.value.retry_after == 1.0
    assert "postgres unavailable" in refused.value.message
    down.clear()
    assert isinstance(await call(gate, METHOD), Reply)


async def test_the_health_service_is_never_gated() -> None:
    gate = ReadinessGate(lambda: {"postgres"}, retry_after=1.0)

    assert isinstance(await call(gate, "/grpc.health.v1.Health/Check"), Reply)
