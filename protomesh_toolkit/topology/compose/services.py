"""The mesh's own long-running containers: service replicas, change-capture workers, the edge."""

from __future__ import annotations

from typing import Any

from gateway.config import FILES
from gateway.upstream_tls import EDGE_IDENTITY
from protomesh.registry import ChangeCapture, Mesh, Service
from protomesh_toolkit.topology import images
from protomesh_toolkit.topology.compose.parts import (
    BACKEND,
    COMPLETED,
    ENVIRONMENT,
    HEALTHY,
    PROVISION,
    PUBLIC,
    RESTART,
    app,
    containers_of,
    healthcheck,
    identity_volume,
)
from protomesh_toolkit.topology.wiring import (
    Wiring,
    cdc_health_command,
    cdc_password,
    cdc_settings,
    database_password,
    health_command,
    service_settings,
)

CONTAINER_CPUS = 2.0  # as the Kubernetes pods' CPU limit


def replicas(mesh: Mesh, service: Service, wiring: Wiring) -> dict[str, Any]:
    containers = {}
    for replica in service.replicas_in(ENVIRONMENT):
        port = replica.ports[ENVIRONMENT]
        secrets = []
        depends_on: dict[str, Any] = {"certs": COMPLETED}
        if service.database is not None:
            secrets = [database_password(service)]  # its own role's; never the admin's
            depends_on[PROVISION] = COMPLETED
        for dependency in service.depends_on:
            for container in containers_of(mesh, dependency):
                depends_on[container] = HEALTHY
        containers[service.replica_name(replica, ENVIRONMENT)] = {
            **app(["python", "-m", service.module]),
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


def cdc_worker(mesh: Mesh, capture: ChangeCapture, wiring: Wiring) -> dict[str, Any]:
    """One container: a slot has one reader. It starts once its set-up job is done, with
    its own certificate (NATS takes only its context's changes from it)."""
    port = capture.metrics_ports[ENVIRONMENT]
    service = mesh.services[capture.service]
    depends_on = {
        container: HEALTHY
        for name in ("postgres", "nats", service.name)
        for container in containers_of(mesh, name)
    }
    depends_on[f"{capture.name}-setup"] = COMPLETED
    return {
        **app(["python", "-m", "protomesh.cdc"]),
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


def edge(mesh: Mesh) -> dict[str, Any]:
    edge = mesh.edge
    assert edge is not None
    port, admin = edge.ports[ENVIRONMENT], edge.admin_ports[ENVIRONMENT]
    depends_on: dict[str, Any] = {"certs": COMPLETED, "edge-config": COMPLETED}
    for service in mesh.services.values():
        if set(service.serves) & set(edge.exposed):
            depends_on |= {container: HEALTHY for container in containers_of(mesh, service.name)}
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
