"""Processes we started, found again by pid in a later command.

A pid alone is not an identity: once a process exits its pid can be reused,
and signalling a stranger would be the worst thing `down` could do. So each
record carries the process's start time as the kernel reports it
(/proc/<pid>/stat), and a pid counts as ours only while that still matches.
Exited children of an exited `protomesh up` are re-parented to pid 1, and
where pid 1 does not reap (some container inits) they linger as zombies:
those count as gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path

PROC = Path("/proc")
_GONE = ("Z", "X")  # zombie, dead


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot; None where there is no /proc."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_running(pid: int, started: int | None) -> bool:
    """Alive, not a zombie, and (where /proc exists) still the process we started."""
    if not PROC.is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, owned by another user
            pass
        return True
    fields = _stat_fields(pid)
    if fields is None or fields[0] in _GONE:
        return False
    return started is None or int(fields[19]) == started


def is_reused(pid: int, started: int | None) -> bool:
    """Whether `pid` now names some other process than the one we started: hands off."""
    fields = _stat_fields(pid) if PROC.is_dir() else None
    return fields is not None and started is not None and int(fields[19]) != started


def family(pid: int) -> dict[int, int | None]:
    """The live processes of the component `pid` leads, by pid, with their start ticks.

    Its process group and its descendants: a service's children share its
    group, but PostgreSQL's backends each call setsid(), so only their parent
    pid ties them to the postmaster.
    """
    if not PROC.is_dir():
        return {pid: None} if is_running(pid, None) else {}
    table = {}
    for entry in PROC.iterdir():
        fields = _stat_fields(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and fields[0] not in _GONE:
            table[int(entry.name)] = fields
    members = {other for other, fields in table.items() if pid in (other, int(fields[2]))}
    frontier = list(members)
    while frontier:
        parent = frontier.pop()
        children = {other for other, fields in table.items() if int(fields[1]) == parent}
        frontier += children - members
        members |= children
    return {member: int(table[member][19]) for member in members}


def any_running(members: Mapping[int, int | None]) -> bool:
    return any(is_running(pid, started) for pid, started in members.items())


def kill(members: Mapping[int, int | None], pgid: int) -> None:
    """SIGKILL the group and each member still running as itself."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    for pid, started in members.items():
        if is_running(pid, started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll until `condition()` holds; False when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True
