"""Which processes the local cluster runs for a mesh, and how each one's health is read.

One process per infrastructure component, per replica of each service in the
`local` environment (`user`, or `user-1`, `user-2`...), and the edge last.
"""

from __future__ import annotations

from protomesh.cluster.components import (
    Component,
    Health,
    Nats,
    Postgres,
    ServiceProcess,
    probe_grpc,
    probe_nats,
    probe_postgres,
)
from protomesh.cluster.edge import EdgeProcess, probe_edge
from protomesh.cluster.errors import ClusterError
from protomesh.cluster.layout import Layout, shown
from protomesh.cluster.state import Record
from protomesh.registry import LOCAL, Mesh

ENVIRONMENT = LOCAL  # the mesh.yaml environment the local cluster runs


def components(mesh: Mesh, layout: Layout) -> dict[str, Component]:
    """Every component of the mesh in start order, set up for the local environment."""
    if ENVIRONMENT not in mesh.environments:
        raise ClusterError(f"{shown(layout.mesh_file)} has no `{ENVIRONMENT}` environment to run")
    postgres = None
    if "postgres" in mesh.infrastructure:
        postgres = Postgres(mesh.infrastructure["postgres"].ports[ENVIRONMENT], layout)
    nats = None
    if "nats" in mesh.infrastructure:
        nats = Nats(mesh.infrastructure["nats"].ports[ENVIRONMENT], layout)
    built: dict[str, Component] = {}
    for name in mesh.start_order:
        if name == "postgres" and postgres is not None:
            built[name] = postgres
        elif name == "nats" and nats is not None:
            built[name] = nats
        elif name in mesh.services:
            service = mesh.services[name]
            for replica in service.replicas_in(ENVIRONMENT):
                process_name = service.replica_name(replica, ENVIRONMENT)
                port = replica.ports[ENVIRONMENT]
                built[process_name] = ServiceProcess(
                    process_name, service, port, layout, postgres, nats=nats
                )
    if mesh.edge is not None:
        built["edge"] = EdgeProcess(mesh.edge, layout)
    return built


def probe(record: Record) -> Health:
    if record.kind == Postgres.kind:
        return probe_postgres(record.port)
    if record.kind == Nats.kind:
        if record.admin_port is None:
            return Health(False, "no monitoring port recorded")
        return probe_nats(record.admin_port)
    if record.kind == EdgeProcess.kind:
        if record.admin_port is None:
            return Health(False, "no admin port recorded")
        return probe_edge(record.admin_port)
    return probe_grpc(record.port)
