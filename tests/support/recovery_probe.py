"""When a killed part of the mesh is back, seen from outside with cheap direct probes.

The chaos run used to poll `protomesh status`: a new Python process per poll
that checks every component, which costs up to a second on a busy machine and
so blurred the very figure it measured. These probes ask one thing each, every
POLL seconds, timestamped against the kill:

- a service: the standard gRPC health check over mTLS (the operator's
  certificate) on one channel kept for the whole run, redialling at once
  rather than after grpc's default reconnect backoff (1 s, growing), which
  would measure the probe's patience instead of the service;
- in the edge: Envoy's admin `/clusters` says every host of the service's
  cluster is healthy (where the edge routes again, after its health checks);
- NATS: the monitor's `/healthz?js-enabled-only=true`; PostgreSQL: `pg_isready`;
  the edge: Envoy's admin `/ready` says LIVE.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2

from protomesh.tls.client import channel_credentials
from protomesh.tls.files import TlsFiles
from protomesh_toolkit.cluster import envoy_admin, processes
from protomesh_toolkit.cluster.components import probe_postgres
from protomesh_toolkit.cluster.nats import probe_nats

POLL = 0.05  # seconds between probes
CHECK_TIMEOUT = 0.5
# Redial a refused connection within 50-100 ms: the probe must not sleep through a recovery.
# (Not `min_reconnect_backoff_ms`: grpc takes it as the least time a handshake may take too.)
REDIAL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 100),
]

Probe = Callable[[], bool]


class ServiceHealth:
    """grpc.health.v1 Check of a service's whole server, on a channel kept open."""

    def __init__(self, port: int, tls: TlsFiles) -> None:
        self.channel = grpc.secure_channel(
            f"127.0.0.1:{port}", channel_credentials(tls), options=REDIAL_OPTIONS
        )
        self.check = self.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )

    def __call__(self) -> bool:
        try:
            reply = self.check(health_pb2.HealthCheckRequest(service=""), timeout=CHECK_TIMEOUT)
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def close(self) -> None:
        self.channel.close()


def in_edge(admin_port: int, cluster: str) -> Probe:
    """Whether Envoy counts every host of `cluster` healthy (no failure flags)."""

    def probe() -> bool:
        try:
            hosts = envoy_admin.upstream_health(admin_port)
        except OSError:
            return False
        mine = [flags for name, flags in hosts.items() if name.startswith(f"{cluster}/")]
        return bool(mine) and all(flags == "healthy" for flags in mine)

    return probe


def edge_live(admin_port: int) -> Probe:
    def probe() -> bool:
        try:
            return envoy_admin.readiness(admin_port) == "LIVE"
        except OSError:
            return False

    return probe


def nats_healthy(monitor_port: int) -> Probe:
    return lambda: probe_nats(monitor_port).healthy


def postgres_ready(port: int) -> Probe:
    return lambda: probe_postgres(port).healthy


def operator_tls(run_dir: Path) -> TlsFiles:
    return TlsFiles.of(run_dir / "certs", "operator")


@dataclass(frozen=True)
class Watch:
    """What to wait for after killing one part: `serving`, then optionally `routed`."""

    serving: Probe
    routed: Probe | None = None


def wait_gone(pid: int, start_ticks: int | None, deadline: float) -> None:
    """Until the killed process is dead (a zombie counts): before, it might still answer."""
    while processes.is_running(pid, start_ticks) and time.monotonic() < deadline:
        time.sleep(0.01)


def seconds_until(probe: Probe, since: float, deadline: float) -> float | None:
    """Seconds from `since` to the first probe that passes; None when `deadline` comes first."""
    while time.monotonic() < deadline:
        if probe():
            return time.monotonic() - since
        time.sleep(POLL)
    return None
