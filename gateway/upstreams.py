"""One Envoy cluster per service that serves an exposed proto service.

Every upstream is HTTP/2 (gRPC), health-checked with grpc.health.v1 so a
replica that turns NOT_SERVING (draining, or its database is down) leaves the
rotation within seconds, ejected after repeated failures (outlier detection),
and bounded by circuit-breaker limits so a stuck service cannot take every
connection of the edge with it. With TLS on, every connection (health checks
included) is mutual TLS to the service's pinned identity (`upstream_tls.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.upstream_tls import transport_socket
from protomesh.registry import LOCAL, Edge, Service

HTTP_PROTOCOL_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
# Health checks. A healthy host is checked every 2 s (`interval`: with the
# threshold and timeout, how long a drained replica keeps serving, see
# topology/wiring.py's SHUTDOWN_DELAY). A host out of rotation is checked every
# 0.5 s (`unhealthy_interval`), so one restarted after a crash takes traffic
# again within half a second of answering SERVING, not within 2 s. The same
# split before a cluster has had any traffic (`no_traffic_interval`, Envoy's
# default a minute, takes precedence over the others then; healthy hosts use
# `no_traffic_healthy_interval`).
HEALTH_CHECK = {
    "timeout": "1s",
    "interval": "2s",
    "unhealthy_interval": "0.5s",
    "no_traffic_interval": "0.5s",
    "no_traffic_healthy_interval": "2s",
    "unhealthy_threshold": 2,
    "healthy_threshold": 1,
    "grpc_health_check": {"service_name": ""},  # the whole server, as the runtime reports it
}
# A replica of several server processes shares one port (SO_REUSEPORT), and the
# kernel spreads *connections* over them, not requests. Envoy's HTTP/2 pool
# holds a single connection per upstream host unless a connection is full, so
# without a bound all of a replica's REST traffic would reach one process.
# Four streams per connection make Envoy open one connection per four calls
# in flight (docs/performance.md measured the spread).
UPSTREAM_STREAMS_PER_CONNECTION = 4
OUTLIER_DETECTION = {
    "consecutive_5xx": 5,
    "consecutive_gateway_failure": 3,
    "interval": "5s",
    "base_ejection_time": "15s",
    "max_ejection_percent": 50,
}


@dataclass(frozen=True)
class UpstreamTls:
    """The mesh's trust domain, and where Envoy finds its SDS files (as Envoy sees the path)."""

    trust_domain: str
    sds_dir: str


def cluster(
    service: Service, edge: Edge, environment: str, tls: UpstreamTls | None
) -> dict[str, Any]:
    limits = edge.circuit_breaker
    endpoints = []
    for address in service.addresses(environment):
        host, _, port = address.rpartition(":")
        socket = {"address": host, "port_value": int(port)}
        endpoints.append({"endpoint": {"address": {"socket_address": socket}}})
    found = {
        "name": service.name,
        # Locally the addresses are IPs; in containers they are names to resolve.
        "type": "STATIC" if environment == LOCAL else "STRICT_DNS",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": HTTP_PROTOCOL_OPTIONS,
                "explicit_http_config": {
                    "http2_protocol_options": {
                        "max_concurrent_streams": UPSTREAM_STREAMS_PER_CONNECTION
                    }
                },
                # Recycled connections pick up a rotated client certificate.
                "common_http_protocol_options": {
                    "max_connection_duration": f"{edge.connection_lifetime:g}s"
                },
            }
        },
        "load_assignment": {
            "cluster_name": service.name,
            "endpoints": [{"lb_endpoints": endpoints}],
        },
        "health_checks": [HEALTH_CHECK],
        "outlier_detection": OUTLIER_DETECTION,
        "circuit_breakers": {
            "thresholds": [
                {
                    "priority": "DEFAULT",
                    "max_connections": limits.max_connections,
                    "max_pending_requests": limits.max_pending_requests,
                    "max_requests": limits.max_requests,
                    "max_retries": limits.max_retries,
                }
            ]
        },
    }
    if tls is not None:
        found["transport_socket"] = transport_socket(service.name, tls.trust_domain, tls.sds_dir)
    return found
