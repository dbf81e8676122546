"""A server span per unary RPC, continuing the caller's W3C trace context.

Why our own interceptor rather than opentelemetry-instrumentation-grpc's
aio one: that one re-wraps the handler on every call, builds the span's
attributes (peer parsing included) and a wrapt proxy of the servicer
context even for calls the sampler drops. Here the handler is wrapped once
per method (`UnaryInterceptor`), the metadata is only parsed when it
carries a `traceparent`, and attributes are set only on spans that record.
`python -m protomesh.bench.telemetry` measures the difference.

The span's name and attributes follow the RPC semantic conventions
(`rpc.system`, `rpc.service`, `rpc.method`, `rpc.grpc.status_code`); its
status is ERROR only for codes that mean the server failed, as the
conventions ask (a NOT_FOUND is the caller's problem, not ours).
Health checks are not traced: balancers ask every second or two.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from google.protobuf.message import Message
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from protomesh.interceptors.base import Behavior, UnaryInterceptor

UNTRACED_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
TRACE_HEADERS = ("traceparent", "tracestate", "baggage")
SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def remote_context(metadata: Any) -> otel_context.Context | None:
    """The caller's trace context from gRPC metadata; None when it sent none."""
    carrier = {key: value for key, value in metadata or () if key in TRACE_HEADERS}
    if "traceparent" not in carrier:
        return None
    return propagate.extract(carrier)


def code_of(context: grpc.aio.ServicerContext[Any, Any]) -> grpc.StatusCode:
    """The status a failed call ends with (set by an abort), UNKNOWN if none was set."""
    code = context.code()
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN


class ServerSpanInterceptor(UnaryInterceptor):
    def __init__(self, tracer: trace.Tracer) -> None:
        super().__init__()
        self._tracer = tracer

    async def intercept(
        self,
        method: str,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
        call_next: Behavior,
    ) -> Message:
        if method.startswith(UNTRACED_PREFIXES):
            return await call_next(request, context)
        parent = remote_context(context.invocation_metadata())
        name = method.removeprefix("/")
        span = self._tracer.start_span(name, context=parent, kind=SpanKind.SERVER)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        code = grpc.StatusCode.OK
        try:
            return await call_next(request, context)
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except BaseException as error:
            code = code_of(context)
            if span.is_recording() and not isinstance(error, grpc.aio.AbortError):
                span.record_exception(error)
            raise
        finally:
            if span.is_recording():
                _describe(span, name, code)
            span.end()
            otel_context.detach(token)


def _describe(span: trace.Span, name: str, code: grpc.StatusCode) -> None:
    service, _, rpc = name.partition("/")
    span.set_attributes(
        {
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": rpc,
            "rpc.grpc.status_code": code.value[0],
        }
    )
    if code in SERVER_ERRORS:
        span.set_status(Status(StatusCode.ERROR, code.name))
