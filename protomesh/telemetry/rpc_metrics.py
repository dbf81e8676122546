"""RED metrics for every unary RPC a service handles or makes.

Rate and errors come from one counter labelled with the final gRPC status
code (`rate(rpc_server_requests_total{code!="OK"}[5m])` is the error rate),
duration from a histogram per method. The label children are looked up once
per method and code, not per call: a dict hit instead of prometheus-client's
label validation and lock on every request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from prometheus_client import Counter, Histogram

from protomesh.interceptors.base import Behavior, UnaryInterceptor
from protomesh.telemetry.call_status import code_of
from protomesh.telemetry.metrics import instruments

Request = TypeVar("Request")
Response = TypeVar("Response")


class _Red:
    """Cached label children of one requests counter and one duration histogram."""

    def __init__(self, requests: Counter, duration: Histogram) -> None:
        self._requests, self._duration = requests, duration
        self._counters: dict[tuple[str, str], Any] = {}
        self._histograms: dict[str, Any] = {}

    def record(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        counter = self._counters.get((method, code.name))
        if counter is None:
            counter = self._counters[method, code.name] = self._requests.labels(method, code.name)
        counter.inc()
        histogram = self._histograms.get(method)
        if histogram is None:
            histogram = self._histograms[method] = self._duration.labels(method)
        histogram.observe(seconds)


class ServerMetricsInterceptor(UnaryInterceptor):
    def __init__(self) -> None:
        super().__init__()
        used = instruments()
        self._red = _Red(used.server_requests, used.server_duration)

    async def intercept(
        self,
        method: str,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
        call_next: Behavior,
    ) -> Message:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return await call_next(request, context)
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except BaseException:
            code = code_of(context)
            raise
        finally:
            self._red.record(method, code, time.perf_counter() - started)


class ClientMetricsInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self) -> None:
        used = instruments()
        self._red = _Red(used.client_requests, used.client_duration)

    async def intercept_unary_unary(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, Request],
            Awaitable[grpc.aio.UnaryUnaryCall[Request, Response]],
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Request,
    ) -> Response | grpc.aio.UnaryUnaryCall[Request, Response]:
        method = client_call_details.method
        name = method.decode() if isinstance(method, bytes) else str(method)
        started = time.perf_counter()
        code = grpc.StatusCode.UNKNOWN
        try:
            call = await continuation(client_call_details, request)
            code = await call.code()  # waits for the end of the call; raises nothing
            return call
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            self._red.record(name, code, time.perf_counter() - started)
