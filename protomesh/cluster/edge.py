"""The Envoy edge as a cluster component, started after the services it routes to.

Envoy runs in the run directory on files `up` prepares there: the config
rendered from the mesh being run (not the committed envoy/local.yaml, which a
PROTOMESH_MESH_FILE with other ports would contradict), the edge's descriptor
set, the JWKS of the dev JWT issuer, whose private key stays in secrets/, and
the SDS files through which Envoy reads (and re-reads, on rotation) its
certificate in certs/.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from gateway import admin
from gateway.config import FILES, as_yaml, render
from gateway.descriptors import write_edge_descriptor_set
from gateway.openapi.pages import write_pages
from gateway.upstream_tls import write_secret_documents
from protomesh import codegen
from protomesh.cluster.components import Component, Health
from protomesh.cluster.issuer import DevIssuer
from protomesh.cluster.layout import Layout
from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import LOCAL, Edge, RpcCatalogue, load_mesh
from protomesh.tls.files import insecure
from protomesh.topology.kubernetes import one_address_per_service

CONFIG = "envoy.yaml"


class EdgeProcess(Component):
    kind = "edge"

    def __init__(self, edge: Edge, layout: Layout) -> None:
        super().__init__("edge", edge.ports[LOCAL], layout)
        self.admin_port = edge.admin_ports[LOCAL]
        self.otlp_endpoint: str | None = None  # the local receiver, with `up --otlp`

    def launch(self, timeout: float) -> int:
        layout = self.layout
        config = prepare_edge_files(
            layout.mesh_file,
            LOCAL,
            layout.run_dir,
            layout.issuer_key,
            tls=not insecure(),
            otlp_endpoint=self.otlp_endpoint,
        )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                admin.envoy_command(config),
                cwd=self.layout.run_dir,  # the config's file paths are relative to it
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.process.pid

    def probe(self) -> Health:
        assert self.admin_port is not None
        return probe_edge(self.admin_port)


def prepare_edge_files(
    mesh_file: Path,
    environment: str,
    base: Path,
    issuer_key: Path,
    *,
    per_service: bool = False,
    tls: bool = True,
    otlp_endpoint: str | None = None,
) -> Path:
    """Write what Envoy runs on where its config expects it; returns the config's path.

    The descriptor set, JWKS, SDS files and API pages go where `gateway.config.FILES`
    says for the environment, under `base` (locally the run dir; in a
    container `/`, where the paths are absolute); the config goes beside the
    descriptor set. The SDS files point Envoy at the edge's certificate in
    the certs folder, which `protomesh certs` fills (locally) or a volume
    is mounted on (containers: made here, so the mount point exists even in
    a read-only config volume). Used by the local cluster and by the
    containers' edge-config job (`protomesh edge-config`). `per_service`
    routes to one address per service (its Kubernetes Service) instead of
    one per replica; `tls=False` only for a mesh run with PROTOMESH_INSECURE=1;
    `otlp_endpoint` traces to that collector whatever the registry says (`up --otlp`).
    """
    files = FILES[environment]
    descriptor, jwks = (base / path.lstrip("/") for path in (files.descriptor, files.jwks))
    directory = descriptor.parent
    directory.mkdir(parents=True, exist_ok=True)
    issuer = DevIssuer(issuer_key)
    issuer.ensure_key()
    issuer.write_jwks(jwks)
    write_edge_descriptor_set(DESCRIPTOR_SET, descriptor)
    if tls:
        (base / files.certs.lstrip("/")).mkdir(parents=True, exist_ok=True)
        write_secret_documents(base / files.sds.lstrip("/"), files.certs)
    codegen.ensure_generated()
    catalogue = RpcCatalogue.load(DESCRIPTOR_SET)
    mesh = load_mesh(mesh_file, catalogue)
    if per_service:
        mesh = one_address_per_service(mesh, environment)
    if files.pages is not None:
        write_pages(base / files.pages.lstrip("/"), mesh)
    config = directory / CONFIG
    rendered = render(mesh, environment, catalogue, files, tls=tls, otlp_endpoint=otlp_endpoint)
    config.write_text(as_yaml(rendered, environment))
    return config


def probe_edge(admin_port: int) -> Health:
    """Healthy when Envoy is LIVE and every upstream host passes its health checks."""
    state = "no answer from the admin interface"
    with contextlib.suppress(OSError, ValueError):
        state = admin.readiness(admin_port)
        if state == "LIVE":
            hosts = admin.upstream_health(admin_port)
            unhealthy = [f"{host} ({flags})" for host, flags in hosts.items() if flags != "healthy"]
            if unhealthy:
                return Health(False, f"LIVE; upstreams not healthy: {', '.join(unhealthy)}")
            return Health(True, f"LIVE; {len(hosts)} upstream(s) healthy")
    return Health(False, state)
