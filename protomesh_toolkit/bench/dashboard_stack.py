"""What the dashboard benchmark runs: user, order and two web BFF replicas, as processes.

On the bench's PostgreSQL and nats-server (`write_stack`), over mTLS: only a
forwarder's `x-jwt-sub` is believed (the edge's; bff's by order), never a
plaintext caller's, so the bench calls with the edge's certificate, as the
edge would. Both BFF replicas share NATS, hence cache tier 2. Everything is
stopped by pid on the way out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import grpc

from protomesh import healthcheck
from protomesh.registry import DEFAULT_MESH_FILE, load_mesh
from protomesh.tls.client import channel_credentials, server_name_options
from protomesh.tls.files import TlsFiles
from protomesh_toolkit.bench.order_stack import mesh_with_ports, service_process
from protomesh_toolkit.bench.processes import HOST, START_TIMEOUT, BenchProcess, free_port
from protomesh_toolkit.bench.write_stack import WriteStack
from protomesh_toolkit.certs.issuance import ensure_certificates


@dataclass(frozen=True)
class DashboardStack:
    user: str  # host:port of each
    order: str
    bff: tuple[str, str]  # two replicas sharing tier 2
    edge: TlsFiles  # the certificate the bench calls with: a forwarder of end users

    def channel(self, address: str, service: str) -> grpc.aio.Channel:
        credentials = channel_credentials(self.edge)
        return grpc.aio.secure_channel(address, credentials, server_name_options(service))


def _started(process: BenchProcess, address: str, operator: TlsFiles, service: str) -> None:
    def serving() -> bool:
        return healthcheck.check(address, 1.0, operator, service)[0]

    process.wait_until(serving, START_TIMEOUT)


@contextlib.contextmanager
def running_dashboard_stack(stack: WriteStack, cache_ttl: float) -> Iterator[DashboardStack]:
    with contextlib.ExitStack() as cleanup:
        certs = stack.directory / "certs"
        ensure_certificates(load_mesh(DEFAULT_MESH_FILE), certs)
        operator = TlsFiles.of(certs, "operator")
        user_port, order_port = free_port(), free_port()
        user = service_process(stack, "user", "USER_SERVICE_", user_port, {}, certs=certs)
        cleanup.callback(user.stop)
        _started(user, f"{HOST}:{user_port}", operator, "user")
        mesh = mesh_with_ports(
            stack.directory / "mesh-dashboard.yaml", {"user": user_port, "order": order_port}
        )
        order = service_process(
            stack,
            "order",
            "ORDER_SERVICE_",
            order_port,
            {"MESH_FILE": str(mesh), "NATS_URL": stack.nats_url},
            certs=certs,
        )
        cleanup.callback(order.stop)
        _started(order, f"{HOST}:{order_port}", operator, "order")
        replicas = []
        for number in (1, 2):
            port = free_port()
            settings = {
                "MESH_FILE": str(mesh),
                "NATS_URL": stack.nats_url,
                "CACHE_TTL": str(cache_ttl),
                "SHARED_CACHE_TTL": str(max(cache_ttl, 1.0)),
            }
            bff = service_process(
                stack,
                "bff",
                "BFF_SERVICE_",
                port,
                settings,
                database=False,
                log_name=f"bff-{number}",
                certs=certs,
            )
            cleanup.callback(bff.stop)
            _started(bff, f"{HOST}:{port}", operator, "bff")
            replicas.append(f"{HOST}:{port}")
        yield DashboardStack(
            f"{HOST}:{user_port}",
            f"{HOST}:{order_port}",
            (replicas[0], replicas[1]),
            TlsFiles.of(certs, "edge"),
        )
