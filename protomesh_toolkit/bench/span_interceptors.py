"""The server span interceptor alone, per call: ours against opentelemetry-instrumentation-grpc's.

In one process, with no network and no handler work: what each adds to a
unary call, for a call the sampler drops and for one it keeps. This is the
measurement behind protomesh's own `ServerSpanInterceptor` (see its
docstring); the end-to-end cost is `protomesh_toolkit.bench.telemetry`'s job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import grpc
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from protomesh.telemetry.server_spans import ServerSpanInterceptor
from protomesh.telemetry.tracing import tracer_provider

METHOD = "/shop.user.v1.UserService/GetUser"


class _Metadatum(NamedTuple):  # what grpc.aio hands servicers
    key: str
    value: str


_METADATA = (_Metadatum("user-agent", "grpc-c/1.85"), _Metadatum("x-request-id", "bench"))


class _Context:
    """The parts of a servicer context both interceptors read."""

    def invocation_metadata(self) -> tuple[_Metadatum, ...]:
        return _METADATA

    def peer(self) -> str:
        return "ipv4:127.0.0.1:50000"

    def code(self) -> None:
        return None


class _Details(NamedTuple):
    method: str
    invocation_metadata: tuple[_Metadatum, ...]


class _PassThrough(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        return await continuation(details)


async def _echo(request: bytes, context: Any) -> bytes:
    return request


async def _per_call(interceptor: grpc.aio.ServerInterceptor, calls: int) -> float:
    """Microseconds per call: the interceptor as grpc.aio runs it, once per RPC."""
    handler: Any = grpc.unary_unary_rpc_method_handler(_echo)

    async def continuation(details: Any) -> Any:
        return handler

    details: Any = _Details(METHOD, _METADATA)
    context = _Context()
    started = time.perf_counter()
    for _ in range(calls):
        wrapped: Any = await interceptor.intercept_service(continuation, details)
        await wrapped.unary_unary(b"", context)
    return (time.perf_counter() - started) / calls * 1e6


async def _compare(calls: int) -> list[str]:
    lines = []
    for rate in (0.0, 1.0):
        provider = tracer_provider("bench", rate, InMemorySpanExporter())
        try:
            base = await _per_call(_PassThrough(), calls)
            bound = provider.sampler.root_bound  # type: ignore[attr-defined]
            ours_interceptor = ServerSpanInterceptor(provider.get_tracer("bench"), bound)
            ours = await _per_call(ours_interceptor, calls)
            theirs = await _per_call(aio_server_interceptor(tracer_provider=provider), calls)
        finally:
            provider.shutdown()
        lines.append(
            f"  {'kept' if rate else 'dropped'} by the sampler: ours {ours - base:5.1f} µs/call,"
            f" instrumentation-grpc {theirs - base:5.1f} µs/call"
        )
    return lines


def compare(calls: int = 20_000) -> str:
    return "\n".join(asyncio.run(_compare(calls)))
