"""Which processes the local cluster runs for a mesh, and how each one's health is read.

One process per infrastructure component, per replica of each service in the
`local` environment (`user`, or `user-1`, `user-2`...), and the edge last.
"""

from __future__ import annotations

from protomesh.registry import LOCAL, Mesh
from protomesh.tls.files import insecure
from protomesh_toolkit.cluster import state
from protomesh_toolkit.cluster.components import (
    Component,
    Health,
    Postgres,
    ServiceProcess,
    operator_files,
    probe_grpc,
    probe_postgres,
)
from protomesh_toolkit.cluster.edge import EdgeProcess, probe_edge
from protomesh_toolkit.cluster.nats import NatsProcess, probe_nats
from protomesh_toolkit.cluster.ports import HOST
from protomesh_toolkit.cluster.receiver import NAME as RECEIVER
from protomesh_toolkit.cluster.receiver import OtlpReceiverProcess, probe_receiver
from protomesh_toolkit.cluster.state import Record
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import Layout, shown
from protomesh_toolkit.topology.wiring import Wiring

ENVIRONMENT = LOCAL  # the mesh.yaml environment the local cluster runs


def components(mesh: Mesh, layout: Layout, *, otlp: bool = False) -> dict[str, Component]:
    """Every component of the mesh in start order, set up for the local environment.

    With `otlp` (or when the running cluster has one), a local OTLP receiver
    starts first and every service and the edge send their traces to it.
    """
    if ENVIRONMENT not in mesh.environments:
        raise ClusterError(f"{shown(layout.mesh_file)} has no `{ENVIRONMENT}` environment to run")
    built: dict[str, Component] = {}
    receiver = None
    if otlp or RECEIVER in state.load(layout):
        receiver = OtlpReceiverProcess(_receiver_port(mesh, layout), layout)
        built[RECEIVER] = receiver
    postgres = nats = None
    if "postgres" in mesh.infrastructure:
        postgres = Postgres(mesh.infrastructure["postgres"].ports[ENVIRONMENT], layout)
    if "nats" in mesh.infrastructure:
        nats = NatsProcess(mesh, layout)
    # Secret files are made on first use, when a service is launched; certificates by `up`.
    wiring = Wiring.of(
        mesh,
        ENVIRONMENT,
        HOST,
        lambda name: str(layout.ensure_secret(name)),
        mesh_file=str(layout.mesh_file),
        certs_dir=None if insecure() else str(layout.certs_dir),
        otlp_endpoint=None if receiver is None else receiver.endpoint,
    )
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
                process = ServiceProcess(process_name, service, port, layout, wiring)
                process.metrics_port = replica.metrics_ports.get(ENVIRONMENT)
                built[process_name] = process
    if mesh.edge is not None:
        edge = EdgeProcess(mesh.edge, layout)
        if receiver is not None:
            edge.otlp_endpoint = receiver.endpoint
        built["edge"] = edge
    return built


def _receiver_port(mesh: Mesh, layout: Layout) -> int:
    port = mesh.telemetry.receiver_ports.get(ENVIRONMENT)
    if port is None:
        raise ClusterError(
            f"{shown(layout.mesh_file)} has no telemetry.receiver_port.{ENVIRONMENT} "
            "for the local OTLP receiver"
        )
    return port


def probe(record: Record, layout: Layout) -> Health:
    if record.kind == Postgres.kind:
        return probe_postgres(record.port)
    if record.kind == NatsProcess.kind:
        if record.admin_port is None:
            return Health(False, "no monitor port recorded")
        return probe_nats(record.admin_port)
    if record.kind == OtlpReceiverProcess.kind:
        return probe_receiver(record.port)
    if record.kind == EdgeProcess.kind:
        if record.admin_port is None:
            return Health(False, "no admin port recorded")
        return probe_edge(record.admin_port)
    return probe_grpc(record.port, operator_files(layout))
