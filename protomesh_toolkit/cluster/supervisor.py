"""`protomesh up` and `protomesh down`: start the mesh in dependency order, stop it in reverse.

`up` is safe to repeat. Components recorded as running are left alone; ones
that have exited since they were started (a crash, a reboot) are reported and
started again, so `up` is also how to recover. Ports are checked before
anything starts, and if a component fails to become healthy, everything this
`up` started is stopped again: a failed `up` leaves things as it found them.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterable
from typing import TextIO

from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import Mesh, RpcCatalogue, load_mesh
from protomesh.tls.files import INSECURE_WARNING, insecure, warn_insecure
from protomesh_toolkit import codegen
from protomesh_toolkit.certs.issuance import ensure_certificates
from protomesh_toolkit.cluster import daemon, ports, state
from protomesh_toolkit.cluster.components import Component, ServiceProcess, log_tail, stop
from protomesh_toolkit.cluster.plan import components
from protomesh_toolkit.cluster.state import Record
from protomesh_toolkit.db.roles import provision_mesh
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import Layout, shown

log = logging.getLogger("protomesh_toolkit.cluster")

HEALTH_POLL_INTERVAL = 0.1


class Progress:
    """One line per component: its name, then how it went and how long it took."""

    def __init__(self, names: Iterable[str], out: TextIO) -> None:
        self.width = max([8, *(len(name) for name in names)])
        self.out = out
        self.began = time.monotonic()

    def begin(self, name: str, doing: str) -> None:
        self.began = time.monotonic()
        print(f"  {name:<{self.width}}  {doing} ... ", end="", flush=True, file=self.out)

    def end(self, outcome: str) -> None:
        print(f"{outcome} in {time.monotonic() - self.began:.1f}s", file=self.out, flush=True)

    def note(self, name: str, text: str) -> None:
        print(f"  {name:<{self.width}}  {text}", file=self.out)


def up(
    layout: Layout, mesh: Mesh, timeout: float, out: TextIO = sys.stdout, *, otlp: bool = False
) -> dict[str, Component]:
    """Start every component that is not running, each once those it depends on are healthy.

    `otlp` adds the local OTLP receiver, and points the services and the edge at it.
    Returns every planned component (those started here hold their process),
    for the supervisor that watches them afterwards.
    """
    began = time.monotonic()
    if _generate():
        print("Regenerated gen/ from proto/ (the contracts had changed).", file=out)
    # The edge's routes name RPCs: check them against the contracts before starting anything.
    mesh = load_mesh(layout.mesh_file, RpcCatalogue.load(DESCRIPTOR_SET))
    planned = components(mesh, layout, otlp=otlp)
    layout.prepare()
    _certificates(layout, mesh, out)
    with state.exclusive(layout):
        records = state.load(layout)
        running = {name for name, record in records.items() if record.is_running()}
        if running >= set(planned):
            print(f"The local cluster is already running ({', '.join(planned)}).", file=out)
            print("Nothing to do; `protomesh status` checks its health.", file=out)
            return planned
        progress = Progress(planned, out)
        print(f"Starting the local cluster from {shown(layout.mesh_file)}:", file=out)
        for name in sorted(set(records) & set(planned) - running, key=list(planned).index):
            record = records[name]
            progress.note(name, f"had exited (pid {record.pid}, started {record.started_at})")
        pending = [component for name, component in planned.items() if name not in running]
        _check_ports(pending)
        started: list[str] = []
        provisioned = False
        try:
            for component in pending:
                if isinstance(component, ServiceProcess) and not provisioned:
                    _provision(mesh, component, progress)
                    provisioned = True
                progress.begin(component.name, "starting")
                records[component.name] = _start(component, timeout)
                started.append(component.name)
                state.save(layout, records)
                _wait_healthy(component, timeout)
                pid = records[component.name].pid
                progress.end(f"healthy on {ports.HOST}:{component.port} (pid {pid})")
        except BaseException:
            progress.end("failed")
            print("Stopping what this `up` started:", file=out)
            _stop_each(started, records, layout, progress)
            raise
    print(f"\nAll {len(planned)} components healthy in {time.monotonic() - began:.1f}s.", file=out)
    return planned


def _certificates(layout: Layout, mesh: Mesh, out: TextIO) -> None:
    """Issue what is missing and renew what is near expiry, before anything starts.

    Running services and Envoy pick renewed files up by themselves, so a
    repeated `up` is also how a long-running cluster's certificates stay fresh.
    """
    if insecure():
        warn_insecure(log, "protomesh up")
        print(f"WARNING: {INSECURE_WARNING}", file=out)
        return
    outcomes = ensure_certificates(mesh, layout.certs_dir)
    changed = [f"{o.name} {o.action}" for o in outcomes if o.action != "kept"]
    summary = ", ".join(changed) if changed else f"all {len(outcomes)} still valid"
    print(f"mTLS certificates in {shown(layout.certs_dir)}: {summary}.", file=out)


def _provision(mesh: Mesh, first: ServiceProcess, progress: Progress) -> None:
    """Every service's role and schema, as the admin, before the first service starts.

    The admin password stays with this step (`protomesh db provision`): the
    services get only their own role's password. Repeated on every `up`, so
    a service added to mesh.yaml (or a rotated password file) is provisioned too.
    """
    if "postgres" not in mesh.infrastructure:
        return
    progress.begin("roles", "provisioning")
    roles = provision_mesh(mesh, first.wiring)
    progress.end(f"{len(roles)} roles and schemas")


def down(layout: Layout, purge: bool, out: TextIO = sys.stdout) -> None:
    """Stop the supervisor, then every recorded component, last started first; with
    `purge`, delete the run dir."""
    if layout.run_dir.exists():
        daemon.stop(layout, out)  # first: it would restart what is stopped next
        with state.exclusive(layout):
            records = state.load(layout)
            if records:
                print("Stopping the local cluster:", file=out)
            else:
                print("The local cluster is not running.", file=out)
            _stop_each(list(records), records, layout, Progress(records, out))
            if purge and layout.purge():
                print(f"Deleted {shown(layout.run_dir)} (data, secrets, logs).", file=out)
                return
    else:
        print("The local cluster is not running.", file=out)
    if not purge and layout.run_dir.exists():
        print(
            f"Data kept in {shown(layout.run_dir)}; `protomesh down --purge` deletes it.", file=out
        )


def _generate() -> bool:
    try:
        return codegen.ensure_generated()
    except (subprocess.CalledProcessError, FileNotFoundError) as error:
        raise ClusterError(f"generating code from proto/ failed: {error}") from None


def _check_ports(pending: Iterable[Component]) -> None:
    busy = [
        f"port {port} for {component.name} is in use (by {ports.holder(port)})"
        for component in pending
        for port in component.ports
        if not ports.is_free(port)
    ]
    if busy:
        busy.append("nothing was started; stop what holds the port, or change it in mesh.yaml")
        raise ClusterError("\n".join(busy))


def _start(component: Component, timeout: float) -> Record:
    pid = component.launch(timeout)
    return state.new_record(
        component.name,
        component.kind,
        pid,
        component.port,
        component.log,
        admin_port=component.admin_port,
    )


def _wait_healthy(component: Component, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not (health := component.probe()).healthy:
        process = component.process
        if process is not None and process.poll() is not None:
            raise ClusterError(
                f"{component.name} exited with code {process.returncode} before it was healthy; "
                f"the end of {shown(component.log)}:\n{log_tail(component.log)}"
            )
        if time.monotonic() > deadline:
            raise ClusterError(
                f"{component.name} is not healthy after {timeout:.0f}s ({health.detail}); "
                f"the end of {shown(component.log)}:\n{log_tail(component.log)}"
            )
        time.sleep(HEALTH_POLL_INTERVAL)


def _stop_each(
    names: list[str], records: dict[str, Record], layout: Layout, progress: Progress
) -> None:
    """Stop the named components, last started first, forgetting each once it is gone."""
    for name in reversed(names):
        progress.begin(name, "stopping")
        progress.end(stop(records[name]))
        del records[name]
        state.save(layout, records)
