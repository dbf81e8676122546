"""Which server process of its replica this process is, and how many a replica runs.

`protomesh.processes` starts a replica's server processes; each learns its
place from the environment its parent gave it (`ROLE_ENV`). A process started
any other way serves alone: index 0 of 1, with the port to itself.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Set by the parent in each server process it starts: "<index>/<count>/<parent pid>".
ROLE_ENV = "PROTOMESH_SERVER_PROCESS"
# The pipe a server process writes the port its /metrics landed on into, for the parent.
METRICS_PORT_FD_ENV = "PROTOMESH_METRICS_PORT_FD"
AUTO = "auto"
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


@dataclass(frozen=True)
class ProcessRole:
    """Which server process of its replica this one is."""

    index: int = 0
    count: int = 1
    parent: int | None = None  # the parent's pid; None when the process serves alone

    @property
    def shares_port(self) -> bool:
        """Bind with SO_REUSEPORT: the siblings listen on the same port, the kernel
        spreads new connections among them."""
        return self.parent is not None

    @property
    def runs_background_work(self) -> bool:
        """Only process 0 runs the outbox relay, consumers and other background workers.

        They are safe to run more than once (replicas already do), but N copies
        per replica would multiply NATS and database connections and pollers
        for no gain: their throughput is bounded by NATS and PostgreSQL, not
        by a core.
        """
        return self.index == 0

    def environment(self) -> dict[str, str]:
        return {ROLE_ENV: f"{self.index}/{self.count}/{self.parent}"}


def current_role(env: Mapping[str, str] | None = None) -> ProcessRole:
    """The role the parent gave this process, or serving alone (index 0 of 1)."""
    raw = (os.environ if env is None else env).get(ROLE_ENV)
    if not raw:
        return ProcessRole()
    index, count, parent = (int(part) for part in raw.split("/"))
    return ProcessRole(index, count, parent)


def process_count(value: str, cores: int | None = None) -> int:
    """`auto` → the cores this process may run on; else a whole number >= 1.

    >>> process_count("3"), process_count("auto", cores=2)
    (3, 2)
    """
    text = value.strip().lower()
    if text == AUTO:
        return max(1, cores if cores is not None else _usable_cores())
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise ValueError(f"{value!r} is not a whole number >= 1 or {AUTO}")


def _usable_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may use: its affinity mask (a container pinned to 2 of 64
    cores has 2, where os.cpu_count() says 64), capped by a cgroup CPU quota rounded
    up (a Kubernetes `limits.cpu: 1500m` gives 2)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = _cgroup_quota(cpu_max)
    return min(cores or 1, quota) if quota else cores or 1


def _cgroup_quota(cpu_max: Path) -> int | None:
    """cgroup v2's `cpu.max` ("200000 100000": 2 cores; "max 100000": no quota)."""
    try:
        limit, period = cpu_max.read_text().split()
    except (OSError, ValueError):
        return None
    if limit == "max":
        return None
    return max(1, math.ceil(int(limit) / int(period)))


def report_metrics_port(port: int, env: Mapping[str, str] | None = None) -> None:
    """Tell the parent where this server process serves /metrics (no-op when alone)."""
    fd = (os.environ if env is None else env).get(METRICS_PORT_FD_ENV)
    if fd:
        os.write(int(fd), str(port).encode())  # a few bytes: one atomic pipe write
        os.close(int(fd))
