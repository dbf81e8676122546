"""The Envoy edge as a cluster component, started after the services it routes to.

Envoy runs in the run directory on files `up` prepares there: the config
rendered from the mesh being run (not the committed envoy/local.yaml, which a
PROTOMESH_MESH_FILE with other ports would contradict), the edge's descriptor
set, and the JWKS of the dev JWT issuer, whose private key stays in secrets/.
"""

from __future__ import annotations

import contextlib
import subprocess

from gateway import admin
from gateway.cli import render_to
from gateway.config import FILES
from gateway.descriptors import write_edge_descriptor_set
from protomesh.cluster.components import Component, Health
from protomesh.cluster.issuer import DevIssuer
from protomesh.cluster.layout import Layout
from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import LOCAL, Edge

CONFIG = "envoy.yaml"


class EdgeProcess(Component):
    kind = "edge"

    def __init__(self, edge: Edge, layout: Layout) -> None:
        super().__init__("edge", edge.ports[LOCAL], layout)
        self.admin_port = edge.admin_ports[LOCAL]
        self.otlp_endpoint: str | None = None  # the local receiver, with `up --otlp`

    def launch(self, timeout: float) -> int:
        directory = self.layout.envoy_dir
        directory.mkdir(exist_ok=True)
        files = FILES[LOCAL]
        issuer = DevIssuer(self.layout.issuer_key)
        issuer.ensure_key()
        issuer.write_jwks(self.layout.run_dir / files.jwks)
        write_edge_descriptor_set(DESCRIPTOR_SET, self.layout.run_dir / files.descriptor)
        config = render_to(
            self.layout.mesh_file, directory / CONFIG, LOCAL, files, self.otlp_endpoint
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
