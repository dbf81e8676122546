"""mesh.yaml → docker-compose.yml: the local cluster's topology, one container per process.

Every service replica of the `compose` environment becomes a container of the one
protomesh image with its own command (`python -m <module>`), the settings `wiring.py`
gives it, its secrets as compose secrets, a gRPC healthcheck over mTLS, and `depends_on`
conditions on what it depends on. Each `cdc` entry adds its change-capture worker
(`order-cdc`), one container, after a one-shot `order-cdc-setup` (the admin makes its
role's grants, the publication and the slot once the service has migrated). One-shot
jobs run first: `db-provision` makes every service's role and schema as the PostgreSQL
admin (the only one that holds its password; a service gets its own role's), `certs`
issues the mesh's certificates into the `ca` volume (the CA key included; no other
container mounts it) and copies each identity's own certificate, key and the CA
certificate into a volume of its own (`certs-user`, `certs-edge`, ...), which only that
identity's containers mount (at /certs), and `edge-config` (`python -m gateway prepare`)
renders Envoy's config, descriptor set, JWKS and SDS files into another, which the
official Envoy image then runs, with the certificates at /etc/envoy/certs.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from protomesh.registry import Mesh
from protomesh.tls.files import TlsFiles
from protomesh_toolkit.embedded.nats_auth import SERVER_IDENTITY, server_config
from protomesh_toolkit.topology import images
from protomesh_toolkit.topology.compose.infrastructure import infrastructure, observability
from protomesh_toolkit.topology.compose.jobs import (
    cdc_setup_job,
    certs_job,
    edge_config_job,
    provision_job,
)
from protomesh_toolkit.topology.compose.parts import (
    BACKEND,
    CA_VOLUME,
    ENVIRONMENT,
    NATS_CONFIG,
    PROVISION,
    PUBLIC,
    SECRETS_SOURCE,
    identity_volume,
    published_identities,
)
from protomesh_toolkit.topology.compose.services import cdc_worker, edge, replicas
from protomesh_toolkit.topology.wiring import Wiring

__all__ = [
    "CA_VOLUME",
    "HEADER",
    "NATS_CONFIG",
    "SECRETS_SOURCE",
    "nats_config",
    "render",
    "wiring_of",
]

HEADER = """\
# The mesh in containers: `make compose-secrets && docker compose up --build`.
# Rendered from mesh.yaml by `python -m protomesh_toolkit.topology`: do not edit; edit mesh.yaml and
# re-render (a test fails when this file and mesh.yaml disagree). See docs/deployment.md.
"""


def wiring_of(mesh: Mesh) -> Wiring:
    """How containers reach each other; Kubernetes mounts its Secrets at the same paths."""
    return Wiring.of(
        mesh,
        ENVIRONMENT,
        "0.0.0.0",
        lambda name: f"{images.SECRETS_DIR}/{name}",
        mesh_file=images.MESH_FILE,
        certs_dir=images.CERTS_DIR,
    )


def render(mesh: Mesh) -> dict[str, Any]:
    if ENVIRONMENT not in mesh.environments:
        raise ValueError(f"mesh.yaml has no `{ENVIRONMENT}` environment")
    wiring = wiring_of(mesh)
    services: dict[str, Any] = {"certs": certs_job(mesh)}
    for name in mesh.start_order:
        if name in mesh.infrastructure:
            services[name] = infrastructure(mesh.infrastructure[name])
            if name == "postgres":
                services[PROVISION] = provision_job(mesh)
        else:
            services |= replicas(mesh, mesh.services[name], wiring)
    for capture in mesh.cdc.values():
        services[f"{capture.name}-setup"] = cdc_setup_job(mesh, capture)
        services[capture.name] = cdc_worker(mesh, capture, wiring)
    if mesh.edge is not None:
        services["edge-config"] = edge_config_job()
        services["edge"] = edge(mesh)
    services |= observability()
    secrets = sorted(
        {secret for service in services.values() for secret in service.get("secrets", [])}
    )
    return {
        "services": services,
        "networks": {
            BACKEND: {"internal": True},  # no way in or out but through the edge
            PUBLIC: {},
        },
        "volumes": {
            volume: {}
            for volume in (
                "postgres-data",
                "nats-data",
                CA_VOLUME,
                *(identity_volume(name) for name in published_identities(mesh)),
                "mail",
                "edge-config",
                "edge-issuer",
            )
        },
        "secrets": {secret: {"file": f"{SECRETS_SOURCE}/{secret}"} for secret in secrets},
    }


def nats_config(mesh: Mesh) -> dict[str, Any]:
    """The NATS server's config in the container: its certificate from its own volume."""
    part = mesh.infrastructure["nats"]
    return server_config(
        mesh,
        host="0.0.0.0",
        port=part.ports[ENVIRONMENT],
        monitor_port=part.monitor_ports[ENVIRONMENT],
        store_dir=PurePosixPath("/data"),
        tls=TlsFiles.of(Path(images.CERTS_DIR), SERVER_IDENTITY),
    )
