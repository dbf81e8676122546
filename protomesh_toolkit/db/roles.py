"""Which roles and schemas a mesh needs, with each role's password read from its file.

The same plan for the local cluster (`protomesh up` calls it before any
service starts), and for the one-shot `db-provision` job of compose and
Kubernetes: `protomesh db provision --environment compose --secrets-dir /run/secrets`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import asyncpg

from protomesh.config import Secret
from protomesh.registry import Mesh
from protomesh_toolkit.db.provision import ServiceRole, provision
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.topology.wiring import (
    ADMIN_PASSWORD,
    ADMIN_ROLE,
    Wiring,
    database_password,
    dsn,
)


def read_secret(path: Path) -> Secret:
    """A secret file's value, as services read theirs (one trailing newline is not part of it)."""
    try:
        return Secret(path.read_text().rstrip("\r\n"))
    except FileNotFoundError:
        raise ClusterError(f"{path}: secret file missing") from None


def service_roles(mesh: Mesh, secret_file: Callable[[str], str]) -> list[ServiceRole]:
    """One role per service that declares a database, with its password from `secret_file`."""
    return [
        ServiceRole(
            service.database.role,
            read_secret(Path(secret_file(database_password(service)))),
            service.database.schema,
        )
        for service in mesh.services.values()
        if service.database is not None
    ]


def provision_mesh(mesh: Mesh, wiring: Wiring) -> list[ServiceRole]:
    """Make every service's role and schema as the admin; returns what it provisioned."""
    if wiring.postgres is None:
        raise ClusterError("mesh.yaml declares no postgres to provision")
    roles = service_roles(mesh, wiring.secret_file)
    admin_password = read_secret(Path(wiring.secret_file(ADMIN_PASSWORD)))
    admin_dsn = dsn(wiring.postgres, ADMIN_ROLE)
    try:
        provision(admin_dsn, admin_password, roles)
    except (OSError, asyncpg.PostgresError) as error:
        raise ClusterError(f"provisioning roles as {admin_dsn} failed: {error}") from None
    return roles
