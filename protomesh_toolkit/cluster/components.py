"""How each kind of component starts, says whether it is healthy, and stops.

Services get everything from the registry through their environment: port,
their own role's DSN (the supervisor made the role and schema, as the admin,
before the first service started; a service never sees the admin password),
*paths* of password files, never a password (argv and the
environment are readable by other users through /proc, and end up in logs),
the paths of their certificate and key, and the registry file whose
`callers` they enforce.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from protomesh import healthcheck
from protomesh.paths import ROOT
from protomesh.registry import LOCAL, Service
from protomesh.tls.files import TlsFiles, insecure
from protomesh_toolkit.cluster import bytecode, processes
from protomesh_toolkit.cluster.ports import HOST
from protomesh_toolkit.cluster.state import Record
from protomesh_toolkit.embedded.postgres import (
    POSTGRES_BIN_PATH,
    EmbeddedPostgres,
    EmbeddedPostgresError,
)
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import Layout, shown
from protomesh_toolkit.topology.wiring import ADMIN_PASSWORD, Wiring, service_settings

STOP_TIMEOUT = 15.0  # a service's grace period (10 s by default) plus room to exit
KILL_TIMEOUT = 5.0
PROBE_TIMEOUT = 1.0


@dataclass(frozen=True)
class Health:
    healthy: bool
    detail: str


class Component(ABC):
    """One process of the cluster; `kind` is what `status` and cluster.json call it."""

    kind: ClassVar[str]

    def __init__(self, name: str, port: int, layout: Layout) -> None:
        self.name = name
        self.port = port
        self.admin_port: int | None = None
        self.layout = layout
        self.log = layout.log(name)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ports(self) -> list[int]:
        """Every port it listens on, to be checked free before anything starts."""
        return [self.port] if self.admin_port is None else [self.port, self.admin_port]

    @abstractmethod
    def launch(self, timeout: float) -> int:
        """Start the process in a session of its own; returns its pid."""

    def spawn(self, command: list[str], env: Mapping[str, str] | None = None) -> int:
        """Run `command` from the checkout in a session of its own, logging to its log file."""
        environment = bytecode.cached_in(
            self.layout.bytecode_dir, os.environ if env is None else env
        )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.process.pid

    @abstractmethod
    def probe(self) -> Health:
        """Whether it is healthy now."""


class Postgres(Component):
    kind = "postgres"

    def __init__(self, port: int, layout: Layout) -> None:
        super().__init__("postgres", port, layout)
        self.server = EmbeddedPostgres(layout.postgres_data, port, host=HOST, log_file=self.log)
        self.password_file = layout.secret(ADMIN_PASSWORD)

    def dsn(self, role: str = "postgres") -> str:
        return self.server.dsn(user=role)

    def launch(self, timeout: float) -> int:
        if self.server.is_initialised() and not self.password_file.exists():
            raise ClusterError(
                f"the data in {shown(self.layout.postgres_data)} needs its superuser password, "
                f"but {shown(self.password_file)} is gone; restore it, or start afresh with "
                "`protomesh down --purge` (deletes the data)"
            )
        try:
            self.server.initialise(self.layout.ensure_secret(ADMIN_PASSWORD).read_text())
            pid = self.server.start(timeout)
        except EmbeddedPostgresError as error:
            raise ClusterError(f"postgres did not start: {error}") from None
        except BaseException:  # Ctrl-C while it starts: not recorded yet, so stop it here
            self.server.stop()
            raise
        self.process = self.server.process
        return pid

    def probe(self) -> Health:
        return probe_postgres(self.port)


class ServiceProcess(Component):
    kind = "service"

    def __init__(
        self, name: str, service: Service, port: int, layout: Layout, wiring: Wiring
    ) -> None:
        super().__init__(name, port, layout)
        self.service = service
        self.wiring = wiring
        self.metrics_port: int | None = None  # Prometheus /metrics, when the registry names one

    @property
    def ports(self) -> list[int]:
        return [self.port] if self.metrics_port is None else [self.port, self.metrics_port]

    def environment(self) -> dict[str, str]:
        """The settings the registry decides, over whatever the user's shell already set."""
        own = service_settings(self.service, self.port, self.wiring, metrics_port=self.metrics_port)
        return {**os.environ, **own, "PROTOMESH_ENV": LOCAL, "PYTHONUNBUFFERED": "1"}

    def launch(self, timeout: float) -> int:
        return self.spawn([sys.executable, "-m", self.service.module], self.environment())

    def probe(self) -> Health:
        return probe_grpc(self.port, operator_files(self.layout))


def operator_files(layout: Layout) -> TlsFiles | None:
    """The certificate the cluster's own checks (and the operator's grpcurl) call services with."""
    return None if insecure() else TlsFiles.of(layout.certs_dir, "operator")


def probe_postgres(port: int) -> Health:
    command = [str(POSTGRES_BIN_PATH / "pg_isready"), "-h", HOST, "-p", str(port), "-t", "1"]
    result = subprocess.run(command, capture_output=True, check=False)
    answers = {0: "accepting connections", 1: "rejecting connections", 2: "no answer"}
    return Health(result.returncode == 0, answers.get(result.returncode, "not checked"))


def probe_grpc(port: int, tls: TlsFiles | None) -> Health:
    """The standard gRPC health check of the whole server, as the container healthcheck does,
    over mTLS with `tls` (the operator's certificate)."""
    serving, detail = healthcheck.check(f"{HOST}:{port}", PROBE_TIMEOUT, tls)
    return Health(serving, detail)


def stop(record: Record) -> str:
    """Stop a recorded component and everything in its process group; says how it went.

    PostgreSQL gets SIGINT, its fast shutdown (end sessions, checkpoint,
    exit), on the postmaster alone; a service gets SIGTERM on its group, turns
    NOT_SERVING, drains and exits. Whatever remains after STOP_TIMEOUT is killed.
    """
    if record.kind == Postgres.kind:
        return _stop(record, signal.SIGINT, leader_only=True)
    return _stop(record, signal.SIGTERM, leader_only=False)


def _stop(record: Record, signum: signal.Signals, *, leader_only: bool) -> str:
    if processes.is_reused(record.pid, record.start_ticks):
        return "had already exited"
    members = processes.family(record.pid)

    def gone() -> bool:
        return not processes.any_running(members)

    if gone():
        return "had already exited"
    if record.is_running():
        with contextlib.suppress(ProcessLookupError):
            if leader_only:
                os.kill(record.pid, signum)
            else:
                os.killpg(record.pid, signum)
        if processes.wait_for(gone, STOP_TIMEOUT):
            return f"stopped ({signum.name})"
        how = f"killed (SIGKILL: still running {STOP_TIMEOUT:.0f}s after {signum.name})"
    else:
        how = "had exited; killed what it left running (SIGKILL)"
    processes.kill(members, record.pid)
    if not processes.wait_for(gone, KILL_TIMEOUT):
        raise ClusterError(f"{record.name}: processes {sorted(members)} survived SIGKILL")
    return how


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])
