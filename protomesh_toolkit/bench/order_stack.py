"""The real user and order services for the write-path benchmark's gRPC phase.

Both run as processes (`python -m services.user`, `python -m services.order`)
against the benchmark's PostgreSQL and nats-server, each with its own role and
schema; the order service finds the user service through a copy of the
registry that names the user service's port, as it would in the cluster. The
order service runs its outbox relay in-process and holds each order's payment
at the provider's sandbox (`python -m protomesh_toolkit.payment_sandbox`, a
process of its own here too), as PlaceOrder does everywhere.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import yaml
from shop.user.v1 import user_pb2, user_pb2_grpc

from protomesh import healthcheck
from protomesh.config import Secret
from protomesh.registry import DEFAULT_MESH_FILE, load_mesh
from protomesh.tls.client import channel_credentials, server_name_options
from protomesh.tls.files import INSECURE_VARIABLE, TlsFiles
from protomesh_toolkit.bench.processes import (
    HOST,
    START_TIMEOUT,
    BenchProcess,
    free_port,
    http_status,
)
from protomesh_toolkit.bench.stack import PLAINTEXT
from protomesh_toolkit.bench.write_stack import WriteStack, write_secret
from protomesh_toolkit.certs.issuance import ensure_certificates
from protomesh_toolkit.db.provision import ServiceRole, provision

ENVIRONMENT = "local"
ORDER_SCHEMA = "bench_order"
BUYER_EMAIL = "buyer@bench.example"  # `service_process`'s schema for the order service


def mesh_with_ports(path: Path, ports: dict[str, int]) -> Path:
    """The project's registry with each named service's local replica on the given port."""
    document: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    for name, port in ports.items():
        service = document["services"][name]
        ports_of = service["port"] if "port" in service else service["replicas"][0]["port"]
        ports_of[ENVIRONMENT] = port
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def service_process(
    stack: WriteStack,
    name: str,
    prefix: str,
    port: int,
    extra: dict[str, str],
    *,
    database: bool = True,
    log_name: str | None = None,
    certs: Path | None = None,
) -> BenchProcess:
    """`python -m services.<name>` on `port` with its own role and schema (provisioned
    here, as the admin: the service gets only its own password); over mTLS with the
    service's certificate from `certs`, else plaintext."""
    settings = {"PORT": str(port), "LOG_LEVEL": "warning", **extra}
    if database:
        password_file = stack.directory / f"{name}_password"
        role, schema = f"bench_{name}_svc", f"bench_{name}"
        own = ServiceRole(role, Secret(write_secret(password_file)), schema)
        provision(stack.admin_dsn, Secret(stack.admin_password), [own])
        settings |= {
            "DATABASE_URL": stack.dsn_for(role),
            "DATABASE_PASSWORD_FILE": str(password_file),
            "DATABASE_SCHEMA": schema,
        }
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(prefix) and k != INSECURE_VARIABLE
    }
    env = {**inherited, "PROTOMESH_ENV": ENVIRONMENT}
    if certs is None:
        env |= PLAINTEXT  # `protomesh_toolkit.bench.mtls` prices mTLS
    else:
        settings |= _tls_settings(TlsFiles.of(certs, name))
    env.update({prefix + key: value for key, value in settings.items()})
    return BenchProcess(
        f"{log_name or name} service",
        [sys.executable, "-m", f"services.{name}"],
        stack.directory / f"{log_name or name}.log",
        env,
    )


def _tls_settings(files: TlsFiles) -> dict[str, str]:
    return {
        "TLS_CERT_PATH": str(files.cert),
        "TLS_KEY_PATH": str(files.key),
        "TLS_CA_PATH": str(files.ca),
    }


def _serving(address: str, operator: TlsFiles, server_name: str) -> bool:
    return healthcheck.check(address, 1.0, operator, server_name)[0]


@contextlib.contextmanager
def running_order_service(stack: WriteStack, pool_size: int) -> Iterator[tuple[str, str, TlsFiles]]:
    """(order service address, a registered customer id, the operator's certificate files
    to call it with); both services stopped on exit."""
    with contextlib.ExitStack() as cleanup:
        certs = stack.directory / "certs"
        ensure_certificates(load_mesh(DEFAULT_MESH_FILE), certs)
        operator = TlsFiles.of(certs, "operator")
        user_port, order_port = free_port(), free_port()
        user = service_process(stack, "user", "USER_SERVICE_", user_port, {}, certs=certs)
        cleanup.callback(user.stop)
        user_address = f"{HOST}:{user_port}"
        user.wait_until(functools.partial(_serving, user_address, operator, "user"), START_TIMEOUT)
        mesh = mesh_with_ports(stack.directory / "mesh.yaml", {"user": user_port})
        payments, payments_url = _payment_sandbox(stack)
        cleanup.callback(payments.stop)
        order = service_process(
            stack,
            "order",
            "ORDER_SERVICE_",
            order_port,
            {
                "MESH_FILE": str(mesh),
                "NATS_URL": stack.nats_url,
                "PAYMENTS_URL": payments_url,
                "POOL_MIN_SIZE": str(pool_size),
                "POOL_MAX_SIZE": str(pool_size),
            },
            certs=certs,
        )
        cleanup.callback(order.stop)
        order_address = f"{HOST}:{order_port}"
        order.wait_until(
            functools.partial(_serving, order_address, operator, "order"), START_TIMEOUT
        )
        yield order_address, _customer(user_address, operator), operator


async def seed_copy(stack: WriteStack, customer_id: str) -> None:
    """Put the customer in the order context's copy, as its UserRegistered would.

    The bench's user service runs without NATS, so the phase prices PlaceOrder
    alone: with NATS the user context also consumes every OrderPlaced (its
    order counts) on the same two cores. The copy being fed by events is proven
    by tests/patterns/test_p08_event_fed_copy.py.
    """
    admin = await asyncpg.connect(stack.admin_dsn, password=stack.admin_password)
    try:
        await admin.execute(
            f"INSERT INTO {ORDER_SCHEMA}.customer_directory"
            " (customer_id, display_name, email, changed_at) VALUES ($1, $2, $3, now())",
            uuid.UUID(customer_id),
            "Bench Buyer",
            BUYER_EMAIL,
        )
    finally:
        await admin.close()


def _payment_sandbox(stack: WriteStack) -> tuple[BenchProcess, str]:
    """The provider's sandbox on a free port, answering its health check; and its URL."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    sandbox = BenchProcess(
        "payment sandbox",
        [
            sys.executable,
            "-m",
            "protomesh_toolkit.payment_sandbox",
            f"--host={HOST}",
            f"--port={port}",
        ],
        stack.directory / "payments.log",
        dict(os.environ),
    )
    try:
        sandbox.wait_until(lambda: http_status(f"{url}/health") == 200, START_TIMEOUT)
    except BaseException:
        sandbox.stop()
        raise
    return sandbox, url


def _customer(user_address: str, operator: TlsFiles) -> str:
    credentials = channel_credentials(operator)
    with grpc.secure_channel(user_address, credentials, server_name_options("user")) as channel:
        created = user_pb2_grpc.UserServiceStub(channel).CreateUser(
            user_pb2.CreateUserRequest(email=BUYER_EMAIL, display_name="Bench Buyer"),
            timeout=10,
        )
    return created.user.user_id
