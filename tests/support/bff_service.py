"""Run the web BFF as a real process, wired to a test's user and order services.

The BFF finds user and order only through a copy of the registry that names
their ports, as it would in a cluster; it holds the `bff` certificate. NATS
defaults to a port nobody listens on (tier 1 alone, no events); pass a real
one for tier 2 and invalidation. Tests call it as the edge (`as_customer`),
the one caller whose forwarded end user it believes.
"""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path
from typing import Any

import grpc
import yaml
from shop.bff.web.v1 import web_bff_pb2_grpc
from shop.order.v1 import order_pb2 as order_v1
from shop.order.v1 import order_pb2_grpc as order_v1_grpc
from shop.user.v1 import user_pb2 as user_v1
from shop.user.v1 import user_pb2_grpc as user_v1_grpc

from protomesh.registry import DEFAULT_MESH_FILE
from tests.support import mesh_tls
from tests.support.grpc_calls import health
from tests.support.ports import free_port
from tests.support.service import ServiceProcess

ENVIRONMENT = "local"
Metadata = tuple[tuple[str, str], ...]


def mesh_with_ports(path: Path, ports: dict[str, int]) -> Path:
    """The project's registry with each named service's local replica on the given port."""
    document: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    for name, port in ports.items():
        service = document["services"][name]
        ports_of = service["port"] if "port" in service else service["replicas"][0]["port"]
        ports_of[ENVIRONMENT] = port
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def bff_service(
    directory: Path, user_port: int, order_port: int, **overrides: str
) -> ServiceProcess:
    suffix = secrets.token_hex(3)
    port, metrics_port = free_port(), free_port()
    mesh = mesh_with_ports(
        directory / f"mesh-bff-{suffix}.yaml", {"user": user_port, "order": order_port}
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BFF_SERVICE_")},
        "PROTOMESH_ENV": ENVIRONMENT,
        "BFF_SERVICE_PORT": str(port),
        "BFF_SERVICE_METRICS_PORT": str(metrics_port),
        "BFF_SERVICE_MESH_FILE": str(mesh),
        "BFF_SERVICE_READINESS_INTERVAL": "0.1",
        "BFF_SERVICE_NATS_URL": f"nats://127.0.0.1:{free_port()}",
        **mesh_tls.service_environment("BFF_SERVICE_", "bff"),
        **{f"BFF_SERVICE_{k.upper()}": v for k, v in overrides.items()},
    }
    return ServiceProcess("bff", port, directory / f"bff-{suffix}.log", env)


def following_events(bff: ServiceProcess) -> bool:
    """Whether the BFF has attached tier 2 and follows the evicting events."""
    try:
        return health(bff.address, "cache-events") == "SERVING"
    except grpc.RpcError:
        return False


def as_customer(customer: str) -> Metadata:
    """The metadata the edge sends for a signed-in customer."""
    return (("x-jwt-sub", customer),)


def web_stub(channel: grpc.aio.Channel) -> web_bff_pb2_grpc.WebBffServiceAsyncStub:
    return web_bff_pb2_grpc.WebBffServiceStub(channel)


def edge_channel(bff: ServiceProcess) -> grpc.aio.Channel:
    """A channel to the BFF holding the edge's certificate."""
    return mesh_tls.aio_channel(bff.address, "edge", "bff")


def metrics_port(bff: ServiceProcess) -> str:
    return bff.env["BFF_SERVICE_METRICS_PORT"]


async def create_customer(users: ServiceProcess, display_name: str = "Ada") -> str:
    """A new user, as the operator signs one up; returns its id."""
    async with mesh_tls.aio_channel(users.address) as channel:
        created = await user_v1_grpc.UserServiceStub(channel).CreateUser(
            user_v1.CreateUserRequest(
                email=f"{uuid.uuid4().hex[:12]}@example.com", display_name=display_name
            ),
            timeout=5,
        )
    return created.user.user_id


async def rename(users: ServiceProcess, user_id: str, display_name: str) -> None:
    async with mesh_tls.aio_channel(users.address) as channel:
        await user_v1_grpc.UserServiceStub(channel).UpdateUser(
            user_v1.UpdateUserRequest(user_id=user_id, display_name=display_name), timeout=5
        )


async def place_order(orders: ServiceProcess, customer: str, quantity: int = 1) -> str:
    """An order placed for `customer` as the edge would; returns its id."""
    async with mesh_tls.aio_channel(orders.address, "edge") as channel:
        placed = await order_v1_grpc.OrderServiceStub(channel).PlaceOrder(
            order_v1.PlaceOrderRequest(
                customer_id=customer,
                items=[
                    order_v1.LineItem(
                        sku="BOOK-1",
                        quantity=quantity,
                        unit_price=order_v1.Money(currency_code="EUR", amount_minor=1250),
                    )
                ],
            ),
            metadata=as_customer(customer),
            timeout=5,
        )
    return placed.order.order_id
