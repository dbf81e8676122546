"""What the dashboard benchmark runs: user, order and two web BFF replicas, as processes.

On the bench's PostgreSQL and nats-server (`write_stack`), plaintext like
the other service benches (`protomesh_toolkit.bench.mtls` prices mTLS): the
BFF then believes the `x-jwt-sub` any caller sends, so the bench can act as
the edge. Both BFF replicas share NATS, hence cache tier 2. Everything is
stopped by pid on the way out.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass

from protomesh import healthcheck
from protomesh_toolkit.bench.order_stack import mesh_with_ports, service_process
from protomesh_toolkit.bench.processes import HOST, START_TIMEOUT, BenchProcess, free_port
from protomesh_toolkit.bench.write_stack import WriteStack


@dataclass(frozen=True)
class DashboardStack:
    user: str  # host:port of each
    order: str
    bff: tuple[str, str]  # two replicas sharing tier 2


def _started(process: BenchProcess, address: str) -> None:
    process.wait_until(functools.partial(healthcheck.serving, address, 1.0), START_TIMEOUT)


@contextlib.contextmanager
def running_dashboard_stack(stack: WriteStack, cache_ttl: float) -> Iterator[DashboardStack]:
    with contextlib.ExitStack() as cleanup:
        user_port, order_port = free_port(), free_port()
        user = service_process(stack, "user", "USER_SERVICE_", user_port, {})
        cleanup.callback(user.stop)
        _started(user, f"{HOST}:{user_port}")
        mesh = mesh_with_ports(
            stack.directory / "mesh-dashboard.yaml", {"user": user_port, "order": order_port}
        )
        order = service_process(
            stack,
            "order",
            "ORDER_SERVICE_",
            order_port,
            {"MESH_FILE": str(mesh), "NATS_URL": stack.nats_url},
        )
        cleanup.callback(order.stop)
        _started(order, f"{HOST}:{order_port}")
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
            )
            cleanup.callback(bff.stop)
            _started(bff, f"{HOST}:{port}")
            replicas.append(f"{HOST}:{port}")
        yield DashboardStack(
            f"{HOST}:{user_port}", f"{HOST}:{order_port}", (replicas[0], replicas[1])
        )
