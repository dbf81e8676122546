"""CLIENT spans on calls to other services, the instrumentation loaded only once tracing is on.

opentelemetry-instrumentation-grpc takes ~30 ms to import (a tenth of the
order service's CPU to SERVING, paid again at every restart), and without a
tracer provider its spans are no-ops. Channels are made before the
process's Telemetry decides whether to trace (a bootstrap builds them
first), so each interceptor here asks at every call whether a provider has
been installed (`runtime.install`), and only then loads the real one and
hands it the call. Until then a call goes straight on, as it did through the
no-op spans.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from typing import Any

import grpc
from opentelemetry import trace

# The order aio_client_interceptors() returns them in.
UNARY_UNARY, UNARY_STREAM, STREAM_UNARY, STREAM_STREAM = range(4)


def tracing_installed() -> bool:
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


class _Deferred:
    def __init__(self, kind: int) -> None:
        self._kind = kind
        self._real: Any = None

    def _delegate(self) -> Any:
        """The instrumentation's own interceptor once a provider is installed, else None."""
        if self._real is None and tracing_installed():
            from opentelemetry.instrumentation.grpc import aio_client_interceptors

            self._real = aio_client_interceptors()[self._kind]
        return self._real


class UnaryUnarySpans(_Deferred, grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self) -> None:
        super().__init__(UNARY_UNARY)

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        real = self._delegate()
        if real is None:
            return await continuation(client_call_details, request)
        return await real.intercept_unary_unary(continuation, client_call_details, request)


class UnaryStreamSpans(_Deferred, grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self) -> None:
        super().__init__(UNARY_STREAM)

    async def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        real = self._delegate()
        if real is None:
            return await continuation(client_call_details, request)
        return await real.intercept_unary_stream(continuation, client_call_details, request)


class StreamUnarySpans(_Deferred, grpc.aio.StreamUnaryClientInterceptor):
    def __init__(self) -> None:
        super().__init__(STREAM_UNARY)

    async def intercept_stream_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Iterable[Any] | AsyncIterable[Any],
    ) -> Any:
        real = self._delegate()
        if real is None:
            return await continuation(client_call_details, request_iterator)
        return await real.intercept_stream_unary(
            continuation, client_call_details, request_iterator
        )


class StreamStreamSpans(_Deferred, grpc.aio.StreamStreamClientInterceptor):
    def __init__(self) -> None:
        super().__init__(STREAM_STREAM)

    async def intercept_stream_stream(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Iterable[Any] | AsyncIterable[Any],
    ) -> Any:
        real = self._delegate()
        if real is None:
            return await continuation(client_call_details, request_iterator)
        return await real.intercept_stream_stream(
            continuation, client_call_details, request_iterator
        )


def deferred_client_spans() -> list[grpc.aio.ClientInterceptor]:
    return [UnaryUnarySpans(), UnaryStreamSpans(), StreamUnarySpans(), StreamStreamSpans()]
