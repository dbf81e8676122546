"""Envoy's OpenTelemetry tracer, when the environment has an OTLP endpoint.

Envoy continues a caller's W3C `traceparent` (or starts a trace, sampled at
the registry's `telemetry.sample_rate`), records an ingress span and, with
`spawn_upstream_span`, an egress span per upstream attempt, and sends the
egress span's `traceparent` to the service. Spans leave over OTLP/gRPC to
the `otlp` cluster; Envoy keeps serving when the collector is down.

Without an endpoint nothing is rendered: Envoy then forwards a caller's
`traceparent` untouched (it is an ordinary header), so services still join
the caller's trace, and `x-request-id` is kept or made either way.
"""

from __future__ import annotations

from typing import Any

from protomesh.registry import LOCAL

OTEL_CONFIG = "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig"
HTTP_PROTOCOL_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
CLUSTER = "otlp"
SERVICE_NAME = "edge"


def tracing(sample_rate: float) -> dict[str, Any]:
    """The connection manager's `tracing` block."""
    return {
        "provider": {
            "name": "envoy.tracers.opentelemetry",
            "typed_config": {
                "@type": OTEL_CONFIG,
                "grpc_service": {"envoy_grpc": {"cluster_name": CLUSTER}, "timeout": "1s"},
                "service_name": SERVICE_NAME,
            },
        },
        "random_sampling": {"value": round(sample_rate * 100, 4)},
        "spawn_upstream_span": True,
    }


def otlp_cluster(endpoint: str, environment: str) -> dict[str, Any]:
    host, _, port = endpoint.rpartition(":")
    socket = {"address": host, "port_value": int(port)}
    return {
        "name": CLUSTER,
        "type": "STATIC" if environment == LOCAL else "STRICT_DNS",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": HTTP_PROTOCOL_OPTIONS,
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": CLUSTER,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"socket_address": socket}}}]}
            ],
        },
    }
