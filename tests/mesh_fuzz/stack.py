"""The mesh `make fuzz` runs against: its own PostgreSQL, user and order services, and Envoy.

The same parts the integration tests start (tests/support), in a temporary
directory of their own, torn down by pid on the way out, failures included.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support import mesh_tls
from tests.support.envoy import Envoy, edge_mesh, running_envoy
from tests.support.order_service import running_user_and_order
from tests.support.postgres import start_postgres


@dataclass(frozen=True)
class Stack:
    edge: Envoy
    services: dict[str, str]  # name → mTLS address
    customer: str  # a user that exists, so orders can be placed for it


@contextlib.contextmanager
def running_stack(directory: Path) -> Iterator[Stack]:
    mesh_tls.use(_made(directory / "certs"))
    postgres = start_postgres(_made(directory / "postgres"))
    try:
        with running_user_and_order(postgres, directory) as (users, orders):
            mesh = edge_mesh([users.port], order_ports=[orders.port])
            with running_envoy(mesh, _made(directory / "edge")) as edge:
                edge.wait_upstreams_healthy()
                services = {"user": users.address, "order": orders.address}
                yield Stack(edge, services, existing_customer(edge))
    finally:
        postgres.server.stop()


def existing_customer(edge: Envoy) -> str:
    email = f"fuzz-{uuid.uuid4().hex[:12]}@example.com"
    reply = edge.request("POST", "/v1/users", {"email": email, "display_name": "Fuzz"})
    if reply.status != 200:
        raise RuntimeError(f"cannot create the fuzz customer: {reply.status} {reply.body!r}")
    user_id: str = reply.json()["user"]["user_id"]
    return user_id


def _made(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
