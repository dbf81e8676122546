"""Run the order service as a real process, wired to a test's user service by the registry."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from protomesh.registry import DEFAULT_MESH_FILE
from tests.support import mesh_tls
from tests.support.payment_sandbox import shared_sandbox
from tests.support.ports import free_port
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

ENVIRONMENT = "local"


def mesh_with_user_at(path: Path, user_port: int) -> Path:
    """The project's registry, with the user service's local replica on `user_port`.

    The order service finds the user service only through this file, as it
    would in a cluster.
    """
    document: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    user = document["services"]["user"]
    ports = user["port"] if "port" in user else user["replicas"][0]["port"]
    ports[ENVIRONMENT] = user_port
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def order_service(
    postgres: Postgres, directory: Path, user_port: int, **overrides: str
) -> ServiceProcess:
    """An order service with its own role and schema, so tests never share data.

    NATS defaults to a port nobody listens on: the service must serve without
    it (the relay waits); pass `nats_url=` for a real one. Payments go to the
    test process's shared sandbox unless `payments_url=` names another.
    """
    suffix = secrets.token_hex(3)
    role, schema = f"order_svc_{suffix}", f"orders_{suffix}"
    password_file = directory / f"{role}_password"
    role_password = secrets.token_urlsafe(16)
    password_file.write_text(role_password)
    postgres.provision(role, role_password, schema)  # the service gets no admin secret
    port = free_port()
    mesh = mesh_with_user_at(directory / f"mesh-{suffix}.yaml", user_port)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ORDER_SERVICE_")},
        "PROTOMESH_ENV": ENVIRONMENT,
        "ORDER_SERVICE_PORT": str(port),
        "ORDER_SERVICE_DATABASE_URL": postgres.dsn_for(role),
        "ORDER_SERVICE_DATABASE_PASSWORD_FILE": str(password_file),
        "ORDER_SERVICE_DATABASE_SCHEMA": schema,
        "ORDER_SERVICE_READINESS_INTERVAL": "0.1",
        "ORDER_SERVICE_MESH_FILE": str(mesh),
        "ORDER_SERVICE_NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "ORDER_SERVICE_PAYMENTS_URL": shared_sandbox().url,
        **mesh_tls.service_environment("ORDER_SERVICE_", "order"),
        **{f"ORDER_SERVICE_{k.upper()}": v for k, v in overrides.items()},
    }
    service = ServiceProcess("order", port, directory / f"order-{suffix}.log", env)
    service.secrets_shown = [role_password]
    return service


def schema_of(service: ServiceProcess) -> str:
    return service.env["ORDER_SERVICE_DATABASE_SCHEMA"]


def role_of(service: ServiceProcess, prefix: str) -> tuple[str, str]:
    """The service's database role and its password, to log in as it."""
    role = service.env[f"{prefix}DATABASE_URL"].split("//", 1)[1].split("@", 1)[0]
    password = Path(service.env[f"{prefix}DATABASE_PASSWORD_FILE"]).read_text()
    return role, password


@contextlib.contextmanager
def running_user_and_order(
    postgres: Postgres,
    directory: Path,
    *,
    user_overrides: dict[str, str] | None = None,
    **order_overrides: str,
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """A user service and an order service that finds it through the registry.

    Both are killed on the way out, failures included.
    """
    users = user_service(postgres, directory, **(user_overrides or {}))
    users.start()
    try:
        orders = order_service(postgres, directory, users.port, **order_overrides)
        orders.start()
        try:
            yield users, orders
        finally:
            orders.kill()
    finally:
        users.kill()
