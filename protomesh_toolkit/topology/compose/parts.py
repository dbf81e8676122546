"""What every compose container is made of: names, conditions, the image, the checks."""

from __future__ import annotations

from typing import Any

from gateway.upstream_tls import EDGE_IDENTITY
from protomesh.registry import Mesh
from protomesh_toolkit.embedded.nats_auth import SERVER_IDENTITY
from protomesh_toolkit.topology import images

ENVIRONMENT = "compose"
SECRETS_SOURCE = "./deploy/compose/secrets"  # made by `make compose-secrets`, git-ignored
BACKEND, PUBLIC = "backend", "public"
NATS_CONFIG = "deploy/compose/nats.conf"  # rendered from mesh.yaml, committed
NATS_CONFIG_PATH = "/etc/nats/nats.conf"
CA_VOLUME = "ca"  # the issuing store: the CA key and every leaf, the certs job's alone
PROVISION = "db-provision"  # the one-shot job that makes the roles and schemas
HEALTHY = {"condition": "service_healthy"}
COMPLETED = {"condition": "service_completed_successfully"}
# A long-running container that exits is started again, as the local cluster's supervisor
# restarts a process; the one-shot jobs (certs, edge-config) are not: they are meant to end.
RESTART = "unless-stopped"


def healthcheck(test: list[str], start_period: str = "30s") -> dict[str, Any]:
    """Every 5 s: a Python service's check costs ~0.3 s of CPU (an interpreter starts).

    No `start_interval` and no top-level `name`: the file stays readable by
    Compose v1 (Debian's docker-compose 1.29) as well as by Compose v2.
    """
    return {
        "test": ["CMD", *test],
        "interval": "5s",
        "timeout": "3s",
        "retries": 3,
        "start_period": start_period,
    }


def app(command: list[str], image: str = images.PROTOMESH) -> dict[str, Any]:
    """A container of one of the project's images (a stage of the Dockerfile)."""
    return {
        "image": image,
        "build": {"context": ".", "dockerfile": "Dockerfile", "target": images.TARGETS[image]},
        "command": command,
    }


def identity_volume(identity: str) -> str:
    """The volume holding one identity's own certificate, key and the CA certificate."""
    return f"certs-{identity}"


def published_identities(mesh: Mesh) -> list[str]:
    """The identities with a container: every service, NATS, the edge, each CDC worker."""
    nats = [SERVER_IDENTITY] if "nats" in mesh.infrastructure else []
    edge = [EDGE_IDENTITY] if mesh.edge is not None else []
    return [*mesh.services, *nats, *edge, *(capture.name for capture in mesh.cdc.values())]


def containers_of(mesh: Mesh, name: str) -> list[str]:
    """The containers that make up a component: one, or one per replica."""
    service = mesh.services.get(name)
    if service is None:
        return [name]
    return [service.replica_name(r, ENVIRONMENT) for r in service.replicas_in(ENVIRONMENT)]
