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

from gateway.prepare import prepare_edge_files
from protomesh.registry import LOCAL, Edge
from protomesh.tls.files import insecure
from protomesh_toolkit import codegen
from protomesh_toolkit.cluster import envoy_admin as admin
from protomesh_toolkit.cluster.components import Component, Health
from protomesh_toolkit.layout import Layout


class EdgeProcess(Component):
    kind = "edge"

    def __init__(self, edge: Edge, layout: Layout) -> None:
        super().__init__("edge", edge.ports[LOCAL], layout)
        self.admin_port = edge.admin_ports[LOCAL]
        self.otlp_endpoint: str | None = None  # the local receiver, with `up --otlp`
        self.config: Path | None = None  # what this `up` prepared, for the supervisor's restarts

    def launch(self, timeout: float) -> int:
        # A restart after a crash runs on the files this `up` prepared: they match the
        # services running now, and rendering them again cost ~0.1 s of the edge's outage.
        if self.config is None or not self.config.exists():
            codegen.ensure_generated()
            self.config = prepare_edge_files(
                self.layout.mesh_file,
                LOCAL,
                self.layout.run_dir,
                self.layout.issuer_key,
                tls=not insecure(),
                otlp_endpoint=self.otlp_endpoint,
            )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                admin.envoy_command(self.config),
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
