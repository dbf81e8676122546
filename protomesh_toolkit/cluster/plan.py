"""Which processes the local cluster runs for a mesh, and how each one's health is read.

One process per infrastructure component, per replica of each service in the
`local` environment (`user`, or `user-1`, `user-2`...), per change-capture
worker (`order-cdc`, after the services), and the edge last.
"""

from __future__ import annotations

from protomesh.registry import LOCAL, Mesh
from protomesh.tls.files import insecure
from protomesh_toolkit.cluster import state
from protomesh_toolkit.cluster.cdc import CdcProcess, probe_cdc
from protomesh_toolkit.cluster.components import (
    Component,
    Health,
    Postgres,
    ServiceProcess,
    operator_files,
    probe_grpc,
    probe_postgres,
)
from protomesh_toolkit.cluster.console import ConsoleProcess, probe_console
from protomesh_toolkit.cluster.edge import EdgeProcess, probe_edge
from protomesh_toolkit.cluster.mail import MailSinkProcess, probe_mail_sink
from protomesh_toolkit.cluster.nats import NatsProcess, probe_nats
from protomesh_toolkit.cluster.payments import PaymentSandboxProcess, probe_payments
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
    infrastructure = _infrastructure(mesh, layout)
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
    built.update(_in_start_order(mesh, layout, wiring, infrastructure))
    for capture in mesh.cdc.values():
        worker = CdcProcess(mesh, capture, layout, wiring)
        built[capture.name] = worker
    if mesh.edge is not None:
        edge = EdgeProcess(mesh.edge, layout)
        if receiver is not None:
            edge.otlp_endpoint = receiver.endpoint
        built["edge"] = edge
    console_port = mesh.telemetry.console_ports.get(ENVIRONMENT)
    if console_port is not None:  # last: it shows the others
        built[ConsoleProcess.kind] = ConsoleProcess(console_port, layout)
    return built


def _in_start_order(
    mesh: Mesh, layout: Layout, wiring: Wiring, infrastructure: dict[str, Component]
) -> dict[str, Component]:
    """The infrastructure and every service replica, in the registry's dependency order."""
    ordered: dict[str, Component] = {}
    for name in mesh.start_order:
        if name in infrastructure:
            ordered[name] = infrastructure[name]
        elif name in mesh.services:
            service = mesh.services[name]
            for replica in service.replicas_in(ENVIRONMENT):
                process_name = service.replica_name(replica, ENVIRONMENT)
                port = replica.ports[ENVIRONMENT]
                process = ServiceProcess(process_name, service, port, layout, wiring)
                process.metrics_port = replica.metrics_ports.get(ENVIRONMENT)
                ordered[process_name] = process
    return ordered


def _infrastructure(mesh: Mesh, layout: Layout) -> dict[str, Component]:
    """A process for each infrastructure part mesh.yaml names."""
    parts: dict[str, Component] = {}
    for name, part in mesh.infrastructure.items():
        if name == "postgres":
            parts[name] = Postgres(part.ports[ENVIRONMENT], layout)
        elif name == "nats":
            parts[name] = NatsProcess(mesh, layout)
        elif name == "smtp":
            parts[name] = MailSinkProcess(part.ports[ENVIRONMENT], layout)
        elif name == "payments":
            parts[name] = PaymentSandboxProcess(part.ports[ENVIRONMENT], layout)
    return parts


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
    if record.kind == PaymentSandboxProcess.kind:
        return probe_payments(record.port)
    if record.kind == OtlpReceiverProcess.kind:
        return probe_receiver(record.port)
    if record.kind == ConsoleProcess.kind:
        return probe_console(record.port)
    if record.kind == CdcProcess.kind:
        return probe_cdc(record.port)
    if record.kind == MailSinkProcess.kind:
        return probe_mail_sink(record.port)
    if record.kind == EdgeProcess.kind:
        if record.admin_port is None:
            return Health(False, "no admin port recorded")
        return probe_edge(record.admin_port)
    return probe_grpc(record.port, operator_files(layout))
