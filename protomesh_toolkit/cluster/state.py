"""What `protomesh up` started, kept in <run dir>/cluster.json for the commands after it.

`status`, `logs` and `down` run as separate processes, long after `up` has
returned; this record is how they find the components again. It is rewritten
after every start and stop (atomically), so even an `up` killed half-way
leaves a record `down` can clean up from.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from protomesh_toolkit.cluster import processes
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import Layout, shown

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Record:
    name: str
    kind: str  # "postgres", "nats", "service" or "edge"
    pid: int  # also its process group: every component leads a session of its own
    port: int
    started_at: str  # ISO 8601, UTC
    log: str
    start_ticks: int | None  # the process's identity, see processes.py
    admin_port: int | None = None  # the edge's admin interface, where its health is read
    restarts: int = 0  # by the supervisor, since `up` started it
    last_exit: str | None = None  # how it last exited, when the supervisor saw it go
    failed: bool = False  # crashed past its restart budget: left down until the next `up`

    def is_running(self) -> bool:
        return processes.is_running(self.pid, self.start_ticks)

    def uptime(self) -> float:
        return (datetime.now(UTC) - datetime.fromisoformat(self.started_at)).total_seconds()


def new_record(
    name: str, kind: str, pid: int, port: int, log: Path, *, admin_port: int | None = None
) -> Record:
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    ticks = processes.start_ticks(pid)
    return Record(name, kind, pid, port, started_at, str(log), ticks, admin_port)


def load(layout: Layout) -> dict[str, Record]:
    """The recorded components in start order; empty when nothing was started."""
    try:
        document = json.loads(layout.state_file.read_text())
        if document["version"] != FORMAT_VERSION:
            raise ValueError(f"format {document['version']}, this protomesh reads {FORMAT_VERSION}")
        return {entry["name"]: Record(**entry) for entry in document["components"]}
    except FileNotFoundError:
        return {}
    except (ValueError, KeyError, TypeError) as error:
        raise ClusterError(
            f"{shown(layout.state_file)} is unreadable ({error}); check for leftover "
            "processes by hand, then delete it"
        ) from None


def save(layout: Layout, records: Mapping[str, Record]) -> None:
    if not records:
        layout.state_file.unlink(missing_ok=True)
        return
    document = {
        "version": FORMAT_VERSION,
        "components": [dataclasses.asdict(record) for record in records.values()],
    }
    scratch = layout.state_file.with_suffix(".json.tmp")
    scratch.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(scratch, layout.state_file)


@contextmanager
def exclusive(layout: Layout) -> Iterator[None]:
    """One `up`, `down` or supervisor restart at a time per run directory; a second one
    fails at once (the supervisor tries again on its next round)."""
    with layout.lock_file.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ClusterError(
                f"another `protomesh up` or `down`, or the supervisor restarting a component, "
                f"is working on {shown(layout.run_dir)}; try again in a moment"
            ) from None
        yield


@dataclass(frozen=True)
class SupervisorRecord:
    """The process `up` leaves behind to restart components that exit (supervisor.json)."""

    pid: int
    started_at: str
    start_ticks: int | None

    def is_running(self) -> bool:
        return processes.is_running(self.pid, self.start_ticks)


def save_supervisor(layout: Layout, pid: int) -> None:
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    record = SupervisorRecord(pid, started_at, processes.start_ticks(pid))
    scratch = layout.supervisor_file.with_suffix(".json.tmp")
    scratch.write_text(json.dumps(dataclasses.asdict(record)) + "\n")
    os.replace(scratch, layout.supervisor_file)


def load_supervisor(layout: Layout) -> SupervisorRecord | None:
    try:
        return SupervisorRecord(**json.loads(layout.supervisor_file.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as error:
        raise ClusterError(f"{shown(layout.supervisor_file)} is unreadable ({error})") from None


def forget_supervisor(layout: Layout, pid: int) -> None:
    """Remove the record if it is still this supervisor's (a newer one may have replaced it)."""
    record = load_supervisor(layout)
    if record is not None and record.pid == pid:
        layout.supervisor_file.unlink(missing_ok=True)
