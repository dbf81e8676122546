"""The one-shot jobs: certificates, roles and schemas, change-capture set-up, the edge's files.

They run to completion before what needs them (`service_completed_successfully`) and are
never restarted: they are meant to end.
"""

from __future__ import annotations

from typing import Any

from protomesh.registry import ChangeCapture, Mesh
from protomesh_toolkit.topology import images
from protomesh_toolkit.topology.compose.parts import (
    BACKEND,
    CA_VOLUME,
    ENVIRONMENT,
    HEALTHY,
    app,
    containers_of,
    identity_volume,
    published_identities,
)
from protomesh_toolkit.topology.wiring import (
    cdc_setup_command,
    cdc_setup_secrets,
    provision_command,
    provision_secrets,
)


def certs_job(mesh: Mesh) -> dict[str, Any]:
    """Issues into `ca`, then publishes each identity's own set into its volume.

    It runs as root: Docker creates the mount points of the identity volumes
    root-owned; the files it writes there are handed to the app user
    (`--owner`), and keys stay 0600.
    """
    owner = f"{images.APP_UID}:{images.APP_UID}"
    command = ["protomesh", "certs", "issue", "--dir", images.CERTS_DIR]
    command += ["--publish", images.PUBLISH_DIR, "--owner", owner]
    return {
        **app(command, images.TOOLKIT),
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


def provision_job(mesh: Mesh) -> dict[str, Any]:
    """Every service's role and schema, made once PostgreSQL is up and before any service.

    The one container, besides PostgreSQL itself, that gets the admin password.
    """
    return {
        **app(provision_command(ENVIRONMENT), images.TOOLKIT),
        "environment": {"PROTOMESH_ENV": ENVIRONMENT},
        "secrets": provision_secrets(mesh),
        "depends_on": {"postgres": HEALTHY},
        "networks": [BACKEND],
    }


def cdc_setup_job(mesh: Mesh, capture: ChangeCapture) -> dict[str, Any]:
    """The worker's role, grants, publication and slot, made as the admin once its service
    is healthy (its migrations make the watched tables); the worker never sees the admin."""
    service = mesh.services[capture.service]
    depends_on = {container: HEALTHY for container in containers_of(mesh, service.name)}
    return {
        **app(cdc_setup_command(ENVIRONMENT), images.TOOLKIT),
        "environment": {"PROTOMESH_ENV": ENVIRONMENT},
        "secrets": cdc_setup_secrets(capture),
        "depends_on": {"postgres": HEALTHY, **depends_on},
        "networks": [BACKEND],
    }


def edge_config_job() -> dict[str, Any]:
    command = ["python", "-m", "gateway", "prepare", "--environment", ENVIRONMENT]
    command += ["--issuer-key", f"{images.ISSUER_DIR}/jwt_issuer.pem"]
    return {
        **app(command, images.TOOLKIT),
        "volumes": [f"edge-config:{images.EDGE_DIR}", f"edge-issuer:{images.ISSUER_DIR}"],
        "network_mode": "none",
    }
