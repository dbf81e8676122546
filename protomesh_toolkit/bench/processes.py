"""The processes a benchmark starts, each in a session of its own, stopped by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from protomesh.paths import ROOT

HOST = "127.0.0.1"
START_TIMEOUT = 60.0


class BenchProcess:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_file: Path,
        env: Mapping[str, str],
        cwd: Path = ROOT,
    ) -> None:
        self.name = name
        self.log_file = log_file
        with log_file.open("ab") as log:
            self.popen = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Poll `ready` until it holds; fail with the log's tail if the process dies or stalls."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.popen.returncode}:\n{self.tail()}")
            if ready():
                return
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s:\n{self.tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it has not exited in `timeout`."""
        if self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def tail(self, characters: int = 3000) -> str:
        return self.log_file.read_text(errors="replace")[-characters:]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def http_status(url: str) -> int | None:
    """The status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process and its living descendants have used so far
    (Linux /proc): a server of several processes (server processes, uvicorn workers)
    is measured whole."""
    return sum(process_cpu_seconds(member) for member in family(pid))


def process_cpu_seconds(pid: int) -> float:
    """The same for one process alone (0 once it has exited)."""
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def all_processes() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def family(pid: int) -> list[int]:
    """`pid` and every living descendant, parents first."""
    children: dict[int, list[int]] = {}
    for member in all_processes():
        try:
            parent = int(_stat(member)[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(member)
    members, index = [pid], 0
    while index < len(members):
        members.extend(sorted(children.get(members[index], [])))
        index += 1
    return members


def listening(pids: Iterable[int], port: int) -> list[int]:
    """Those of `pids` holding a listening TCP socket on `port` (of a family: how many
    server processes already take connections on a shared port)."""
    wanted = f":{port:04X}"
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(wanted) and fields[3] == "0A":  # 0A: LISTEN
                sockets.add(f"socket:[{fields[9]}]")
    holders = []
    for member in pids:
        try:
            links = {os.readlink(fd) for fd in Path(f"/proc/{member}/fd").iterdir()}
        except OSError:  # gone, or not ours to read
            continue
        if links & sockets:
            holders.append(member)
    return holders


def rss_megabytes(pid: int) -> float | None:
    """Resident memory of one process now, in MiB (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name: [0] state, [1] ppid, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
