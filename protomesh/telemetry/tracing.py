"""The process's tracer provider: OTLP/gRPC export, parent-based ratio sampling.

Only imported once tracing is on (`runtime.Telemetry`): without an endpoint
nothing is installed and the OpenTelemetry API stays the no-op it is by default.

The sampler honours the caller's decision (`ParentBased`): a request Envoy
sampled is traced in every service it reaches, one it dropped is dropped
everywhere, and `rate` only decides for traces that start here. Spans of
kind CLIENT that would start a trace (a readiness probe's `SELECT 1`, a
migration) are never kept: alone they say nothing, and they would drown the
traces that matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes


class _NoLoneClientSpans(Sampler):
    """Drop CLIENT spans that have no parent; let `ratio` decide for every other root."""

    def __init__(self, ratio: Sampler) -> None:
        self._ratio = ratio

    def should_sample(  # noqa: PLR0917 -- the SDK calls it positionally
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self._ratio.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"NoLoneClientSpans{{{self._ratio.get_description()}}}"


class MeshSampler(ParentBased):
    """ParentBased(TraceIdRatio(rate)), lone CLIENT spans dropped.

    `root_bound` lets the server span interceptor take the ratio's decision
    on a trace id it drew itself (`PresetTraceIds`), so a call that will not
    be recorded never enters the SDK (see server_spans).
    """

    def __init__(self, rate: float) -> None:
        super().__init__(root=_NoLoneClientSpans(TraceIdRatioBased(rate)))
        self.root_bound = TraceIdRatioBased.get_bound_for_rate(rate)


# A trace id chosen before the span is started; the SDK's next root span takes it.
PRESET_TRACE_ID: ContextVar[int | None] = ContextVar("preset_trace_id", default=None)


class PresetTraceIds(RandomIdGenerator):
    """Random ids, except a root trace id preset in `PRESET_TRACE_ID`."""

    def generate_trace_id(self) -> int:
        preset = PRESET_TRACE_ID.get()
        return preset if preset is not None else super().generate_trace_id()


def sampler(rate: float) -> MeshSampler:
    return MeshSampler(rate)


def tracer_provider(
    service: str, rate: float, exporter: SpanExporter, *, batch: bool = True
) -> TracerProvider:
    """A provider for `service` whose finished spans go to `exporter`.

    `batch=False` exports each span as it ends (tests with an in-memory exporter).
    """
    provider = TracerProvider(
        sampler=sampler(rate),
        resource=Resource.create({SERVICE_NAME: service}),
        id_generator=PresetTraceIds(),
    )
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return provider


def otlp_provider(service: str, endpoint: str, rate: float) -> TracerProvider:
    """Export over OTLP/gRPC, in plaintext: the collector is a local agent or sidecar."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    target = endpoint.removeprefix("http://")
    return tracer_provider(service, rate, OTLPSpanExporter(endpoint=target, insecure=True))
