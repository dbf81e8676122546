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

from gateway.config import FILES
from gateway.upstream_tls import EDGE_IDENTITY
from protomesh.registry import ChangeCapture, Infrastructure, Mesh, Service
from protomesh.tls.files import TlsFiles
from protomesh_toolkit.embedded.nats_auth import SERVER_IDENTITY, server_config
from protomesh_toolkit.topology import images
from protomesh_toolkit.topology.wiring import (
    ADMIN_PASSWORD,
    Wiring,
    cdc_health_command,
    cdc_password,
    cdc_settings,
    cdc_setup_command,
    cdc_setup_secrets,
    database_password,
    health_command,
    provision_command,
    provision_secrets,
    service_settings,
)

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
HEADER = """\
# The mesh in containers: `make compose-secrets && docker compose up --build`.
# Rendered from mesh.yaml by `python -m protomesh_toolkit.topology`: do not edit; edit mesh.yaml and
# re-render (a test fails when this file and mesh.yaml disagree). See docs/deployment.md.
"""


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
    services: dict[str, Any] = {"certs": _certs_job(mesh)}
    for name in mesh.start_order:
        if name in mesh.infrastructure:
            services[name] = _infrastructure(mesh.infrastructure[name])
            if name == "postgres":
                services[PROVISION] = _provision_job(mesh)
        else:
            services |= _replicas(mesh, mesh.services[name], wiring)
    for capture in mesh.cdc.values():
        services[f"{capture.name}-setup"] = _cdc_setup_job(mesh, capture)
        services[capture.name] = _cdc_worker(mesh, capture, wiring)
    if mesh.edge is not None:
        services["edge-config"] = _edge_config_job()
        services["edge"] = _edge(mesh)
    services |= _observability()
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


def _app(command: list[str], image: str = images.PROTOMESH) -> dict[str, Any]:
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


def _certs_job(mesh: Mesh) -> dict[str, Any]:
    """Issues into `ca`, then publishes each identity's own set into its volume.

    It runs as root: Docker creates the mount points of the identity volumes
    root-owned; the files it writes there are handed to the app user
    (`--owner`), and keys stay 0600.
    """
    owner = f"{images.APP_UID}:{images.APP_UID}"
    command = ["protomesh", "certs", "issue", "--dir", images.CERTS_DIR]
    command += ["--publish", images.PUBLISH_DIR, "--owner", owner]
    return {
        **_app(command, images.TOOLKIT),
        "user": "0:0",
        "environment": {"PROTOMESH_ENV": ENVIRONMENT},
        "volumes": [
            f"{CA_VOLUME}:{images.CERTS_DIR}",
            *(
                f"{identity_volume(name)}:{images.PUBLISH_DIR}/{name}"
                for name in published_identities(mesh)
            ),
        ],
        "network_mode": "none",
    }


def _provision_job(mesh: Mesh) -> dict[str, Any]:
    """Every service's role and schema, made once PostgreSQL is up and before any service.

    The one container, besides PostgreSQL itself, that gets the admin password.
    """
    return {
        **_app(provision_command(ENVIRONMENT), images.TOOLKIT),
        "environment": {"PROTOMESH_ENV": ENVIRONMENT},
        "secrets": provision_secrets(mesh),
        "depends_on": {"postgres": HEALTHY},
        "networks": [BACKEND],
    }


def _infrastructure(part: Infrastructure) -> dict[str, Any]:
    port = part.ports[ENVIRONMENT]
    if part.name == "payments":
        return _payment_sandbox(port)
    if part.name == "postgres":
        return {
            "image": images.POSTGRES,
            # Logical decoding for change capture, and a bound on the WAL a slot
            # whose worker is away may hold (docs/cdc.md).
            "command": [
                "postgres",
                *("-c", f"port={port}", "-c", "wal_level=logical"),
                *("-c", "max_slot_wal_keep_size=1GB"),
            ],
            "environment": {
                "POSTGRES_USER": "postgres",
                "POSTGRES_PASSWORD_FILE": f"{images.SECRETS_DIR}/{ADMIN_PASSWORD}",
            },
            "secrets": [ADMIN_PASSWORD],
            "volumes": ["postgres-data:/var/lib/postgresql/data"],
            "restart": RESTART,
            "healthcheck": healthcheck(
                ["pg_isready", "-U", "postgres", "-h", "127.0.0.1", "-p", str(port)]
            ),
            "networks": [BACKEND],
        }
    if part.name == "smtp":
        return _mail_sink(port)
    monitor = part.monitor_ports[ENVIRONMENT]
    health_url = f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true"
    # Mutual TLS only, a user per identity (NATS_CONFIG, rendered from mesh.yaml beside this).
    return {
        "image": images.NATS,
        "command": ["-c", NATS_CONFIG_PATH],
        "volumes": [
            "nats-data:/data",
            f"{identity_volume(SERVER_IDENTITY)}:{images.CERTS_DIR}:ro",
            f"./{NATS_CONFIG}:{NATS_CONFIG_PATH}:ro",
        ],
        "depends_on": {"certs": COMPLETED},
        "restart": RESTART,
        "healthcheck": healthcheck(["wget", "-q", "-O", "/dev/null", health_url]),
        "networks": [BACKEND],
    }


def _payment_sandbox(port: int) -> dict[str, Any]:
    """The external payment provider's stand-in, on the backend network only."""
    probe = f"import urllib.request as u; u.urlopen('http://127.0.0.1:{port}/health', timeout=2)"
    return {
        **_app(
            [
                "python",
                "-m",
                "protomesh_toolkit.payment_sandbox",
                "--host=0.0.0.0",
                f"--port={port}",
            ],
            images.TOOLKIT,
        ),
        "healthcheck": healthcheck(["python", "-c", probe], start_period="10s"),
        "networks": [BACKEND],
    }


CONTAINER_CPUS = 2.0  # as the Kubernetes pods' CPU limit


def _replicas(mesh: Mesh, service: Service, wiring: Wiring) -> dict[str, Any]:
    containers = {}
    for replica in service.replicas_in(ENVIRONMENT):
        port = replica.ports[ENVIRONMENT]
        secrets = []
        depends_on: dict[str, Any] = {"certs": COMPLETED}
        if service.database is not None:
            secrets = [database_password(service)]  # its own role's; never the admin's
            depends_on[PROVISION] = COMPLETED
        for dependency in service.depends_on:
            for container in _containers_of(mesh, dependency):
                depends_on[container] = HEALTHY
        containers[service.replica_name(replica, ENVIRONMENT)] = {
            **_app(["python", "-m", service.module]),
            "environment": {
                **service_settings(
                    service, port, wiring, metrics_port=replica.metrics_ports.get(ENVIRONMENT)
                ),
                "PROTOMESH_ENV": ENVIRONMENT,
                "PYTHONUNBUFFERED": "1",
            },
            "secrets": secrets,
            "volumes": [f"{identity_volume(service.name)}:{images.CERTS_DIR}:ro"],
            "restart": RESTART,
            "depends_on": depends_on,
            "healthcheck": healthcheck(health_command(service, port, wiring)),
            "networks": [BACKEND],
            # WORKERS=auto follows the container's CPU quota: a server process per
            # core would otherwise mean one per core of the host, for every replica,
            # each with its own database pool (PostgreSQL allows 100 connections).
            "cpus": CONTAINER_CPUS,
        }
    return containers


def _cdc_setup_job(mesh: Mesh, capture: ChangeCapture) -> dict[str, Any]:
    """The worker's role, grants, publication and slot, made as the admin once its service
    is healthy (its migrations make the watched tables); the worker never sees the admin."""
    service = mesh.services[capture.service]
    depends_on = {container: HEALTHY for container in _containers_of(mesh, service.name)}
    return {
        **_app(cdc_setup_command(ENVIRONMENT), images.TOOLKIT),
        "environment": {"PROTOMESH_ENV": ENVIRONMENT},
        "secrets": cdc_setup_secrets(capture),
        "depends_on": {"postgres": HEALTHY, **depends_on},
        "networks": [BACKEND],
    }


def _cdc_worker(mesh: Mesh, capture: ChangeCapture, wiring: Wiring) -> dict[str, Any]:
    """One container: a slot has one reader. It starts once its set-up job is done, with
    its own certificate (NATS takes only its context's changes from it)."""
    port = capture.metrics_ports[ENVIRONMENT]
    service = mesh.services[capture.service]
    depends_on = {
        container: HEALTHY
        for name in ("postgres", "nats", service.name)
        for container in _containers_of(mesh, name)
    }
    depends_on[f"{capture.name}-setup"] = COMPLETED
    return {
        **_app(["python", "-m", "protomesh.cdc"]),
        "environment": {
            **cdc_settings(capture, service, wiring, metrics_port=port),
            "PROTOMESH_ENV": ENVIRONMENT,
            "PYTHONUNBUFFERED": "1",
        },
        "secrets": [cdc_password(capture)],
        "volumes": [f"{identity_volume(capture.name)}:{images.CERTS_DIR}:ro"],
        "restart": RESTART,
        "depends_on": depends_on,
        "healthcheck": healthcheck(cdc_health_command(port)),
        "networks": [BACKEND],
    }


def _mail_sink(port: int) -> dict[str, Any]:
    """The toolkit's mail sink: compose is a local stack, so mail stays inside it
    (`docker compose exec smtp protomesh mail --dir /mail`). Kubernetes gets no sink: there
    USER_SERVICE_SMTP_HOST names a real relay (docs/deployment.md)."""
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), 2).close()"
    return {
        **_app(
            ["python", "-m", "protomesh_toolkit.mail.sink", *_sink_arguments(port)],
            images.TOOLKIT,
        ),
        "volumes": ["mail:/mail"],
        "healthcheck": healthcheck(["python", "-c", probe]),
        "networks": [BACKEND],
    }


def _sink_arguments(port: int) -> list[str]:
    """All interfaces, inside the backend network only; messages on the `mail` volume."""
    return ["--host", "0.0.0.0", "--port", str(port), "--out", "/mail"]


def _containers_of(mesh: Mesh, name: str) -> list[str]:
    """The containers that make up a component: one, or one per replica."""
    service = mesh.services.get(name)
    if service is None:
        return [name]
    return [service.replica_name(r, ENVIRONMENT) for r in service.replicas_in(ENVIRONMENT)]


def _edge_config_job() -> dict[str, Any]:
    command = ["python", "-m", "gateway", "prepare", "--environment", ENVIRONMENT]
    command += ["--issuer-key", f"{images.ISSUER_DIR}/jwt_issuer.pem"]
    return {
        **_app(command, images.TOOLKIT),
        "volumes": [f"edge-config:{images.EDGE_DIR}", f"edge-issuer:{images.ISSUER_DIR}"],
        "network_mode": "none",
    }


def _edge(mesh: Mesh) -> dict[str, Any]:
    edge = mesh.edge
    assert edge is not None
    port, admin = edge.ports[ENVIRONMENT], edge.admin_ports[ENVIRONMENT]
    depends_on: dict[str, Any] = {"certs": COMPLETED, "edge-config": COMPLETED}
    for service in mesh.services.values():
        if set(service.serves) & set(edge.exposed):
            depends_on |= {container: HEALTHY for container in _containers_of(mesh, service.name)}
    return {
        "image": images.ENVOY,
        "command": [
            "envoy",
            "--config-path",
            f"{images.EDGE_DIR}/envoy.yaml",
            "--log-level",
            "warning",
        ],
        # The image's entrypoint runs Envoy as this uid: the certs job's (the keys are 0600).
        "environment": {"ENVOY_UID": str(images.APP_UID), "ENVOY_GID": str(images.APP_UID)},
        "volumes": [
            f"edge-config:{images.EDGE_DIR}:ro",
            f"{identity_volume(EDGE_IDENTITY)}:{FILES[ENVIRONMENT].certs}:ro",
        ],
        "ports": [f"127.0.0.1:{port}:{port}"],  # the one published port; loopback by default
        "restart": RESTART,
        "depends_on": depends_on,
        "healthcheck": healthcheck(images.envoy_ready(admin), start_period="10s"),
        "networks": [BACKEND, PUBLIC],
    }


def _observability() -> dict[str, Any]:
    """The tracing slot: an OpenTelemetry collector (config in deploy/otel/) and Jaeger.

    Both images are distroless (no shell to run a healthcheck in), so nothing
    waits on them: services and Envoy keep serving, and drop spans, while they are down.
    """
    return {
        "otel-collector": {
            "image": images.OTEL_COLLECTOR,
            "command": ["--config=/etc/otelcol/config.yaml"],
            "volumes": ["./deploy/otel/collector.yaml:/etc/otelcol/config.yaml:ro"],
            "depends_on": {"jaeger": {"condition": "service_started"}},
            "networks": [BACKEND],
        },
        "jaeger": {
            "image": images.JAEGER,
            "environment": {"COLLECTOR_OTLP_ENABLED": "true"},
            "ports": ["127.0.0.1:16686:16686"],  # the trace UI
            "networks": [BACKEND, PUBLIC],
        },
    }
