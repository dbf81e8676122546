"""Envoy in front of the benchmark's user service, configured as the mesh configures it.

The config is the gateway's rendering of the project's own mesh.yaml, with
only the ports changed (the user service where the benchmark started it, the
edge on free ports): the same filters, route policy, health checks and access
log that `protomesh up` runs. Envoy runs with the same command line too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from gateway.config import RenderError
from gateway.prepare import prepare_edge_files
from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import (
    DEFAULT_MESH_FILE,
    LOCAL,
    Mesh,
    RegistryError,
    RpcCatalogue,
    load_mesh,
)
from protomesh_toolkit.bench.processes import (
    HOST,
    START_TIMEOUT,
    BenchProcess,
    free_port,
    http_status,
)
from protomesh_toolkit.cluster.envoy_admin import envoy_command


class EdgeUnavailable(RuntimeError):
    """The edge cannot be configured from the registry; the message says why."""


MeshChange = Callable[[dict[str, Any]], None]


def start_envoy(
    cleanup: contextlib.ExitStack,
    directory: Path,
    grpc_address: str,
    user_id: str,
    change: MeshChange | None = None,
) -> str:
    """Start Envoy; returns its base URL once it serves the benchmark's row over REST.

    `change` edits the registry's YAML first (a bench comparing two policies).
    """
    catalogue = RpcCatalogue.load(DESCRIPTOR_SET)
    port = int(grpc_address.rsplit(":", 1)[1])
    try:
        mesh_file = directory / "mesh.yaml"
        mesh = bench_mesh(mesh_file, port, catalogue, change)
        assert mesh.edge is not None  # rendering refuses a mesh without one
        # The edge benchmark measures the edge itself, plaintext as issue 4 did;
        # `python -m protomesh_toolkit.bench.mtls` measures what mTLS costs.
        config = prepare_edge_files(
            mesh_file, LOCAL, directory, directory / "jwt_issuer.pem", tls=False
        )
    except (RegistryError, RenderError) as error:
        raise EdgeUnavailable(str(error)) from None
    envoy = BenchProcess(
        "envoy", envoy_command(config), directory / "envoy.log", os.environ, cwd=directory
    )
    cleanup.callback(envoy.stop)
    url = f"http://{HOST}:{mesh.edge.ports[LOCAL]}"
    # Active health checks must pass before Envoy routes to the upstream.
    envoy.wait_until(lambda: http_status(f"{url}/v1/users/{user_id}") == 200, START_TIMEOUT)
    return url


def bench_mesh(
    path: Path, user_port: int, catalogue: RpcCatalogue, change: MeshChange | None = None
) -> Mesh:
    """The project's registry, local only, with the user service on `user_port` alone."""
    document: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    document["environments"] = [LOCAL]
    document.pop("telemetry", None)  # the edge bench measures without tracing
    document.pop("cdc", None)  # nor change capture
    for component in document.get("infrastructure", {}).values():
        for key in [key for key in component if key.endswith("port")]:
            component[key] = {LOCAL: free_port()}
    for name, service in document["services"].items():
        service.pop("port", None)
        service.pop("metrics_port", None)  # with replicas, only a replica may name one
        port = user_port if name == "user" else free_port()
        service["replicas"] = [{"port": {LOCAL: port}}]
    edge = document.get("edge")
    if edge is None:
        raise EdgeUnavailable(f"{DEFAULT_MESH_FILE.name} has no edge section")
    edge["port"], edge["admin_port"] = {LOCAL: free_port()}, {LOCAL: free_port()}
    if change is not None:
        change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_mesh(path, catalogue)
