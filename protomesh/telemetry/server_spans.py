"""A server span per unary RPC, continuing the caller's W3C trace context.

Why our own interceptor rather than opentelemetry-instrumentation-grpc's
aio one: that one re-wraps the handler on every call, builds the span's
attributes (peer parsing included) and a wrapt proxy of the servicer
context even for calls the sampler drops. Here the handler is wrapped once
per method (`UnaryInterceptor`), the metadata is only parsed when it
carries a `traceparent`, and attributes are set only on spans that record.
`python -m protomesh_toolkit.bench.telemetry` measures the difference.

Calls that will not be recorded do not enter the SDK at all: the SDK's
`start_span` measured ~20 µs per call inside a loaded service. With the
process's `MeshSampler`, the interceptor takes the same decision itself:
a caller's unsampled `traceparent` gets a non-recording child (what
ParentBased would make), and a new trace gets a trace id drawn here and
tested against the ratio's bound; only if it passes is the SDK asked to
start the span, with that very trace id (`PresetTraceIds`), so the
sampler agrees. Either way the context carries a valid trace id, which
outgoing calls, the outbox and the logs pass on.

The span's name and attributes follow the RPC semantic conventions
(`rpc.system`, `rpc.service`, `rpc.method`, `rpc.grpc.status_code`); its
status is ERROR only for codes that mean the server failed, as the
conventions ask (a NOT_FOUND is the caller's problem, not ours).
Health checks are not traced: balancers ask every second or two.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import grpc
from google.protobuf.message import Message
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from protomesh.interceptors.base import Behavior, UnaryInterceptor
from protomesh.telemetry.call_status import code_of
from protomesh.telemetry.tracing import PRESET_TRACE_ID

TRACE_ID_LIMIT = (1 << 64) - 1  # the ratio sampler compares the trace id's low 64 bits
UNSAMPLED = TraceFlags(TraceFlags.DEFAULT)

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


class ServerSpanInterceptor(UnaryInterceptor):
    def __init__(self, tracer: trace.Tracer, root_bound: int | None = None) -> None:
        """`root_bound`: the process sampler's `MeshSampler.root_bound`; None: the SDK decides."""
        super().__init__()
        self._tracer = tracer
        self._root_bound = root_bound

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
        span = self._start(name, parent)
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

    def _start(self, name: str, parent: otel_context.Context | None) -> trace.Span:
        if self._root_bound is None:
            return self._tracer.start_span(name, context=parent, kind=SpanKind.SERVER)
        if parent is not None:
            caller = trace.get_current_span(parent).get_span_context()
            if caller.is_valid and not caller.trace_flags.sampled:
                return NonRecordingSpan(
                    SpanContext(caller.trace_id, _span_id(), False, UNSAMPLED, caller.trace_state)
                )
            if caller.is_valid:
                return self._tracer.start_span(name, context=parent, kind=SpanKind.SERVER)
        trace_id = _trace_id()
        if trace_id & TRACE_ID_LIMIT >= self._root_bound:
            return NonRecordingSpan(SpanContext(trace_id, _span_id(), False, UNSAMPLED))
        token = PRESET_TRACE_ID.set(trace_id)
        try:
            return self._tracer.start_span(name, context=parent, kind=SpanKind.SERVER)
        finally:
            PRESET_TRACE_ID.reset(token)


def _trace_id() -> int:
    while not (drawn := random.getrandbits(128)):
        pass
    return drawn


def _span_id() -> int:
    while not (drawn := random.getrandbits(64)):
        pass
    return drawn


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
