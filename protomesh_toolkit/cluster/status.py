"""`protomesh status`: each component checked live, as a table or as JSON.

Live means asked now, not read from the record: the process must still be
the one `up` started, and must answer its health check (gRPC health for
services, pg_isready for PostgreSQL, the monitor's /healthz for NATS). A
component that died shows as `exited`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from protomesh.registry import Mesh
from protomesh_toolkit.cluster import state
from protomesh_toolkit.cluster.plan import components, probe
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import Layout, shown

HEALTHY, UNHEALTHY, EXITED, STOPPED = "healthy", "unhealthy", "exited", "stopped"
FAILED = "failed"  # crashed past its restart budget; the supervisor left it down
# Exit codes: everything healthy; something is not; nothing is running (as in LSB's `status`).
ALL_HEALTHY, NOT_HEALTHY, NOT_RUNNING = 0, 1, 3


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    kind: str
    state: str  # healthy, unhealthy, exited (died since `up`), stopped (not started)
    detail: str
    pid: int | None
    port: int | None
    started_at: str | None
    uptime_seconds: int | None
    log: str
    admin_port: int | None = None  # NATS's monitor, Envoy's admin interface
    restarts: int = 0  # by the supervisor since `up`
    last_exit: str | None = None  # how it last exited, as the supervisor saw it


def collect(layout: Layout, mesh: Mesh | None) -> list[ComponentStatus]:
    """Recorded components first, in start order, then the mesh's components not started."""
    records = state.load(layout) if layout.run_dir.exists() else {}
    statuses = []
    for record in records.values():
        if record.is_running():
            health = probe(record, layout)
            condition, detail = (HEALTHY if health.healthy else UNHEALTHY), health.detail
        elif record.failed:
            condition = FAILED
            detail = (
                f"crashed past its restart budget; `protomesh up` starts it ({record.last_exit})"
            )
        else:
            condition, detail = EXITED, f"pid {record.pid} is gone; see its log"
        uptime = int(record.uptime()) if condition in (HEALTHY, UNHEALTHY) else None
        statuses.append(
            ComponentStatus(
                record.name,
                record.kind,
                condition,
                detail,
                record.pid,
                record.port,
                record.started_at,
                uptime,
                record.log,
                record.admin_port,
                record.restarts,
                record.last_exit,
            )
        )
    if mesh is not None:
        statuses += _not_started(mesh, set(records), layout)
    return statuses


def _not_started(mesh: Mesh, recorded: set[str], layout: Layout) -> list[ComponentStatus]:
    statuses = []
    try:
        planned = components(mesh, layout)
    except ClusterError:  # nothing to run locally: nothing is "not started" either
        return []
    for name, part in planned.items():
        if name not in recorded:
            log = str(part.log)
            statuses.append(
                ComponentStatus(
                    name, part.kind, STOPPED, "", None, part.port, None, None, log, part.admin_port
                )
            )
    return statuses


def exit_code(statuses: list[ComponentStatus]) -> int:
    if not any(status.state in (HEALTHY, UNHEALTHY) for status in statuses):
        return NOT_RUNNING
    return ALL_HEALTHY if all(status.state == HEALTHY for status in statuses) else NOT_HEALTHY


def supervisor_pid(layout: Layout) -> int | None:
    """The running supervisor's pid; None when nothing would restart a component that exits."""
    record = state.load_supervisor(layout) if layout.run_dir.exists() else None
    return record.pid if record is not None and record.is_running() else None


def as_json(statuses: list[ComponentStatus], layout: Layout) -> str:
    document = {
        "run_dir": str(layout.run_dir),
        "mesh_file": str(layout.mesh_file),
        "healthy": exit_code(statuses) == ALL_HEALTHY,
        "supervisor_pid": supervisor_pid(layout),
        "components": [asdict(status) for status in statuses],
    }
    return json.dumps(document, indent=2)


def as_table(statuses: list[ComponentStatus], layout: Layout) -> str:
    header = ("COMPONENT", "STATE", "PID", "PORT", "UPTIME", "RESTARTS", "DETAIL")
    rows = [
        (
            status.name,
            status.state,
            "-" if status.pid is None else str(status.pid),
            "-" if status.port is None else str(status.port),
            "-" if status.uptime_seconds is None else _duration(status.uptime_seconds),
            str(status.restarts),
            status.detail
            + (
                f" (last exit: {status.last_exit})"
                if status.last_exit and status.state != FAILED
                else ""
            ),
        )
        for status in statuses
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    watcher = supervisor_pid(layout)
    if statuses and exit_code(statuses) != NOT_RUNNING:
        lines.append(
            f"\nSupervisor: pid {watcher}, restarts a component that exits."
            if watcher is not None
            else "\nSupervisor: not running; a component that exits stays down (`protomesh up`)."
        )
    if exit_code(statuses) == NOT_RUNNING:
        lines.append(
            f"\nNot running (run dir {shown(layout.run_dir)}); start it with `protomesh up`."
        )
    return "\n".join(lines)


def _duration(seconds: int) -> str:
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
