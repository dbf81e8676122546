"""Call one unary method through a single interceptor, as grpc.aio would, without a server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import empty_pb2

from protomesh import request_context
from tests.unit.runtime.fake_context import FakeContext

Reply = empty_pb2.Empty
Handler = Callable[[Any, Any], Awaitable[Any]]


async def _answer(request: Any, context: Any) -> Any:
    return Reply()


async def wrapped(
    interceptor: grpc.aio.ServerInterceptor, method: str, handler: Handler = _answer
) -> Any:
    """The handler `interceptor` puts in place of `handler` for `method`."""
    inner: Any = grpc.unary_unary_rpc_method_handler(handler)

    async def continuation(details: grpc.HandlerCallDetails) -> Any:
        return inner

    details: Any = type("Details", (), {"method": method, "invocation_metadata": ()})()
    return await interceptor.intercept_service(continuation, details)


async def call(
    interceptor: grpc.aio.ServerInterceptor,
    method: str,
    *,
    caller: str | None = None,
    end_user: str | None = None,
) -> Any:
    """One call of `method` through `interceptor`, from `caller` for `end_user`."""
    handler = (await wrapped(interceptor, method)).unary_unary

    async def run() -> Any:
        request_context.caller.set(caller)
        request_context.end_user.set(end_user)
        return await handler(Reply(), FakeContext("x", caller, []).typed)

    # A task of its own runs in a copy of the context: what it sets does not leak out.
    return await asyncio.create_task(run())
