"""Load shedding past a concurrency bound (protomesh.interceptors.shedding)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from protomesh.interceptors.shedding import SHED_RETRY_AFTER, LoadShedder
from tests.unit.runtime.fake_context import FakeContext
from tests.unit.runtime.interceptor_calls import Reply, wrapped

GET_USER = "/shop.user.v1.UserService/GetUser"
HEALTH = "/grpc.health.v1.Health/Check"


class AbortingContext(FakeContext):
    """What grpc.aio does on abort: remember the status, raise AbortError."""

    def __init__(self) -> None:
        super().__init__("x", None, [])
        self.status: grpc.Status | None = None

    async def abort_with_status(self, status: grpc.Status) -> None:
        self.status = status
        raise grpc.aio.AbortError()


async def test_past_the_bound_a_call_is_refused_at_once_with_a_retry_hint() -> None:
    release = asyncio.Event()

    async def slow(request: Reply, context: Any) -> Reply:
        await release.wait()
        return Reply()

    shedder = LoadShedder(2, "user.protomesh")
    handler = (await wrapped(shedder, GET_USER, slow)).unary_unary
    running = [asyncio.create_task(handler(Reply(), AbortingContext())) for _ in range(2)]
    await asyncio.sleep(0)  # both are now in flight
    refused = AbortingContext()
    with pytest.raises(grpc.aio.AbortError):
        await handler(Reply(), refused)
    assert refused.status is not None
    assert refused.status.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(refused.status.trailing_metadata)
    assert trailers["retry-after"] == "1"  # whole seconds, rounded up
    details = status_pb2.Status.FromString(trailers["grpc-status-details-bin"]).details
    retry = error_details_pb2.RetryInfo()
    assert details[0].Unpack(retry)
    assert retry.retry_delay.ToMilliseconds() == SHED_RETRY_AFTER * 1000
    assert (shedder.shed, shedder.in_flight) == (1, 2)
    release.set()
    assert all(isinstance(reply, Reply) for reply in await asyncio.gather(*running))
    assert shedder.in_flight == 0
    await handler(Reply(), AbortingContext())  # room again


async def test_a_failed_call_frees_its_slot() -> None:
    async def failing(request: Reply, context: Any) -> Reply:
        raise RuntimeError("boom")

    shedder = LoadShedder(1, "user.protomesh")
    handler = (await wrapped(shedder, GET_USER, failing)).unary_unary
    for _ in range(2):
        with pytest.raises(RuntimeError):
            await handler(Reply(), AbortingContext())
    assert (shedder.in_flight, shedder.shed) == (0, 0)


async def test_health_checks_are_never_counted_nor_shed() -> None:
    async def check(request: Reply, context: Any) -> Reply:
        return Reply()

    assert (await wrapped(LoadShedder(1, "x"), HEALTH, check)).unary_unary is check
