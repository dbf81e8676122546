"""What a service's process turns on for observability, decided once from its settings.

`GrpcService` builds one `Telemetry` per server: tracing when an OTLP
endpoint is configured, metrics when a metrics port is; each part absent
otherwise, so a service with neither runs exactly the code it ran before
(the bench's "off"). Tracing is process-wide by nature (asyncpg is patched,
the global tracer provider serves client channels and event helpers), so a
process installs at most one provider.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import grpc

from protomesh.settings import ServerSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from protomesh.telemetry.exposition import MetricsServer

# The SDK, the exporter and the instrumentations are imported only when turned
# on: together they take longer to import than the rest of a service.
log = logging.getLogger("protomesh.telemetry")
TRACER_NAME = "protomesh.server"
STANDARD_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"


def otlp_endpoint(configured: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """The service's own setting, else the standard OpenTelemetry variable, else None (off)."""
    env = os.environ if env is None else env
    return configured or env.get(STANDARD_ENDPOINT) or None


def install(provider: TracerProvider) -> None:
    """Make `provider` the process's: client channels, asyncpg and event helpers use it."""
    from opentelemetry import trace

    from protomesh.telemetry.sql_spans import instrument_asyncpg

    trace.set_tracer_provider(provider)
    instrument_asyncpg(provider)


@dataclass
class Telemetry:
    service: str
    provider: TracerProvider | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    metrics_server: MetricsServer | None = field(default=None, init=False)

    @classmethod
    def from_settings(
        cls, service: str, settings: ServerSettings, env: Mapping[str, str] | None = None
    ) -> Telemetry:
        provider = None
        endpoint = otlp_endpoint(settings.otlp_endpoint, env)
        if endpoint is not None:
            from protomesh.telemetry.tracing import otlp_provider

            provider = otlp_provider(service, endpoint, settings.trace_sample_rate)
            install(provider)
            log.info(
                "tracing to %s, sampling %.0f%% of new traces",
                endpoint,
                settings.trace_sample_rate * 100,
            )
        return cls(service, provider, settings.host, settings.metrics_port)

    def server_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        """Outermost first: the span covers everything, the metrics see the final code."""
        chain: list[grpc.aio.ServerInterceptor] = []
        if self.provider is not None:
            from protomesh.telemetry.server_spans import ServerSpanInterceptor
            from protomesh.telemetry.tracing import MeshSampler

            sampler = self.provider.sampler
            bound = sampler.root_bound if isinstance(sampler, MeshSampler) else None
            tracer = self.provider.get_tracer(TRACER_NAME)
            chain.append(ServerSpanInterceptor(tracer, bound))
        if self.metrics_port is not None:
            from protomesh.telemetry.rpc_metrics import ServerMetricsInterceptor

            chain.append(ServerMetricsInterceptor())
        return chain

    def start(self) -> None:
        if self.metrics_port is not None:
            from protomesh.process_role import report_metrics_port
            from protomesh.telemetry.exposition import serve_metrics

            self.metrics_server = serve_metrics(self.metrics_host, self.metrics_port)
            report_metrics_port(self.metrics_server.port)
            log.info("metrics on http://%s:%s/metrics", self.metrics_host, self.metrics_server.port)

    async def stop(self) -> None:
        """Stop serving metrics; flush the spans still buffered (it may wait on the network)."""
        if self.metrics_server is not None:
            self.metrics_server.stop()
            self.metrics_server = None
        if self.provider is not None:
            await asyncio.to_thread(self.provider.shutdown)


def client_interceptors() -> Sequence[grpc.aio.ClientInterceptor]:
    """For channels to other services: a CLIENT span that passes the trace on, and RED metrics.

    The spans come from the process's tracer provider when `install` has run
    (even after the channel was made; client_spans.py); until then there are none.
    """
    from protomesh.telemetry.client_spans import deferred_client_spans
    from protomesh.telemetry.rpc_metrics import ClientMetricsInterceptor

    return [*deferred_client_spans(), ClientMetricsInterceptor()]
