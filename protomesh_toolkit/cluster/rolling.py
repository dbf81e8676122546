"""`protomesh restart NAME`: restart a service's replicas one after the other, under load.

Each replica is drained (SIGTERM: it says NOT_SERVING, keeps serving for its
shutdown delay while the edge's health checks and the mesh's clients move to
the other replicas, then finishes what is in flight), started again, and
waited for: SERVING on its own health check, and healthy in the edge's view
of its upstreams, before the next replica goes. So one replica is always
there to take calls, and with two or more none fails. The cluster lock is held
throughout, so the supervisor does not mistake a drained replica for a crash.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from collections.abc import Callable
from typing import TextIO

from protomesh.registry import Mesh
from protomesh_toolkit.cluster import envoy_admin, state
from protomesh_toolkit.cluster.components import ServiceProcess, stop
from protomesh_toolkit.cluster.plan import components
from protomesh_toolkit.cluster.ports import HOST
from protomesh_toolkit.cluster.state import Record
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import Layout

RESTARTED = "restarted by `protomesh restart`"
POLL_INTERVAL = 0.1


def restart(
    layout: Layout, mesh: Mesh, name: str, timeout: float, out: TextIO = sys.stdout
) -> None:
    planned = components(mesh, layout)
    replicas = [
        part
        for part in planned.values()
        if isinstance(part, ServiceProcess) and name in (part.name, part.service.name)
    ]
    if not replicas:
        services = ", ".join(n for n, p in planned.items() if isinstance(p, ServiceProcess))
        raise ClusterError(f"no service or replica {name!r} (the local cluster runs {services})")
    with state.exclusive(layout):
        records = state.load(layout)
        missing = [
            p.name for p in replicas if not (p.name in records and records[p.name].is_running())
        ]
        if missing:
            raise ClusterError(f"{', '.join(missing)} not running; `protomesh up` starts it")
        if len(replicas) == 1:
            print(f"{name} runs one replica: calls to it fail while it restarts.", file=out)
        edge = records.get("edge")
        edge_admin = edge.admin_port if edge is not None and edge.is_running() else None
        for part in replicas:
            records[part.name] = _restart_one(part, records[part.name], edge_admin, timeout, out)
            state.save(layout, records)


def _restart_one(
    part: ServiceProcess, record: Record, edge_admin: int | None, timeout: float, out: TextIO
) -> Record:
    began = time.monotonic()
    print(f"  {part.name}  draining ... ", end="", flush=True, file=out)
    stopped = stop(record)
    print(
        f"{stopped} in {time.monotonic() - began:.1f}s; starting ... ", end="", flush=True, file=out
    )
    pid = part.launch(timeout)
    fresh = state.new_record(part.name, part.kind, pid, part.port, part.log)
    restarted = dataclasses.replace(fresh, restarts=record.restarts, last_exit=RESTARTED)
    _wait(lambda: part.probe().healthy, timeout, f"{part.name} is not SERVING")
    if edge_admin is not None:
        _wait(
            lambda: _healthy_in_edge(edge_admin, part.port),
            timeout,
            f"the edge does not see {part.name} healthy",
        )
    print(f"serving (pid {pid}) in {time.monotonic() - began:.1f}s", file=out)
    return restarted


def _running(records: dict[str, Record], name: str) -> bool:
    return name in records and records[name].is_running()


def _healthy_in_edge(admin_port: int, port: int) -> bool:
    """Every edge cluster that has this replica as a host has it in rotation."""
    with contextlib.suppress(OSError, ValueError):
        hosts = envoy_admin.upstream_health(admin_port)
        mine = [flags for host, flags in hosts.items() if host.endswith(f"/{HOST}:{port}")]
        return all(flags == "healthy" for flags in mine)
    return False


def _wait(condition: Callable[[], bool], timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise ClusterError(f"{failure} after {timeout:.0f}s; see `protomesh status`")
        time.sleep(POLL_INTERVAL)
