"""Is a loopback port free, and if not, who holds it?

Checked before anything starts, so a clash fails with the component and port
named instead of as a bind error buried in some log, with half the cluster
already running.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

HOST = "127.0.0.1"
_LISTEN = "0A"  # TCP state in /proc/net/tcp*


def is_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on host:port now.

    SO_REUSEADDR as the servers set it: a port left in TIME_WAIT by a cluster
    that just stopped is free for them, and so must be for this check.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = HOST) -> int:
    """A port the kernel says is free now, for listeners the registry does not name."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def holder(port: int) -> str:
    """Who listens on `port`, as far as /proc tells this user: 'pid 42, postgres'."""
    sockets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    for process in Path("/proc").iterdir() if sockets else ():
        if process.name.isdigit() and _holds_any(process, sockets):
            try:
                return f"pid {process.name}, {(process / 'comm').read_text().strip()}"
            except OSError:
                break
    return "another process"


def _holds_any(process: Path, sockets: set[str]) -> bool:
    try:
        return any(os.readlink(descriptor) in sockets for descriptor in (process / "fd").iterdir())
    except OSError:  # gone meanwhile, or not ours to look at
        return False


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == _LISTEN:
                inodes.add(fields[9])
    return inodes
