"""UserServiceCustomers when the user service does not answer: UNAVAILABLE with a retry hint,
and after a few calls in a row, at once (its circuit is open) instead of after each deadline."""

from __future__ import annotations

import uuid

import grpc
import pytest

from protomesh.circuit_breaker import OPEN, CircuitBreaker
from protomesh.errors import Unavailable
from services.order.user_lookup import UserServiceCustomers
from tests.support.ports import free_port


async def test_a_user_service_that_keeps_failing_opens_the_circuit() -> None:
    breaker = CircuitBreaker("user-service-test", failure_threshold=2, reset_timeout=60)
    # Nothing listens on the port: every call waits for a connection until its deadline.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}") as channel:
        customers = UserServiceCustomers(channel, timeout=0.05, breaker=breaker)
        for _ in range(2):
            with pytest.raises(Unavailable, match="DEADLINE_EXCEEDED") as waited:
                await customers.exists(uuid.uuid4())
            assert waited.value.retry_after == 1.0
        assert breaker.state == OPEN
        with pytest.raises(Unavailable, match="not answering") as refused:
            await customers.exists(uuid.uuid4())
    assert (refused.value.retry_after or 0) > 1.0  # the circuit's time left, not the default hint
