"""The parent of a replica's server processes: claim the port, start them, supervise them.

What it promises (docs/deployment.md, "Server processes"):

- **A port clash stays loud.** Server processes bind with SO_REUSEPORT, which
  would let a second replica started by mistake on the same port silently
  share its traffic. The parent first binds the port *without* it (failing on
  any holder), then keeps holding it with a bound, never-listening
  SO_REUSEPORT socket for its lifetime: its own server processes may join,
  a plain bind by anyone else still fails (a bound socket that does not
  listen takes no connections).
- **SIGTERM drains every process.** SIGTERM or SIGINT to the parent is passed
  to each server process, which goes NOT_SERVING, waits its shutdown delay,
  finishes its calls and stops; the parent exits when the last one has.
- **No half-alive replica.** When a server process exits on its own (a crash,
  an OOM kill), the parent stops the others the same way and exits non-zero,
  so whoever runs the replica (the cluster's supervisor, compose's restart
  policy, Kubernetes) restarts it whole. A replica serving on fewer
  processes than it was given, with its background workers possibly gone
  with process 0, would look healthy while it is not.
- **One metrics port.** With a metrics port set, the parent serves it and
  merges what each server process exposes on a private port, with a
  `process` label (`protomesh.telemetry.process_metrics`).
- **A light parent.** `protomesh.processes.run` replaces the service's
  process with `python -m protomesh.process_family` (exec: same pid, so a
  supervisor's signals still reach it), which imports neither grpc nor the
  service: ~17 MiB resident instead of a whole service's ~55 MiB.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from types import FrameType

from protomesh import logs
from protomesh.process_role import METRICS_PORT_FD_ENV, ProcessRole

log = logging.getLogger("protomesh.processes")
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class FamilySpec:
    """What the parent needs of the service's settings (it reads no config of its own)."""

    service: str  # for its log lines
    prefix: str  # the service's env prefix: <prefix>PORT, <prefix>METRICS_PORT
    count: int
    argv: list[str]  # the command line that starts the service
    host: str
    port: int
    metrics_port: int | None
    shutdown_delay: float
    grace_period: float
    log_level: str
    log_pretty: bool

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FamilySpec:
        return cls(**json.loads(text))


class ProcessFamily:
    def __init__(self, spec: FamilySpec) -> None:
        self.spec = spec
        self.children: list[subprocess.Popen[bytes]] = []
        self.metrics_ports: list[ReportedPort] = []  # by process index
        self._signalled: int | None = None

    def run(self) -> int:
        """Serve until signalled or until a server process exits; the replica's exit code."""
        try:
            guard = claim_port(self.spec.host, self.spec.port)
        except OSError as error:
            log.error("%s", error)
            return 2
        port = int(guard.getsockname()[1])
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        metrics = None
        try:
            for index in range(self.spec.count):
                self.children.append(self._start(index, port))
            log.info(
                "serving on %s:%s with %d server processes (pids %s)",
                self.spec.host,
                port,
                self.spec.count,
                ", ".join(str(child.pid) for child in self.children),
            )
            if self.spec.metrics_port is not None:
                from protomesh.telemetry.process_metrics import serve_family_metrics

                metrics = serve_family_metrics(
                    self.spec.host, self.spec.metrics_port, self.metrics_ports
                )
            return self._supervise()
        finally:
            self._stop_all()
            if metrics is not None:
                metrics.stop()
            guard.close()
            for reported in self.metrics_ports:
                reported.close()

    def _start(self, index: int, port: int) -> subprocess.Popen[bytes]:
        role = ProcessRole(index, self.spec.count, os.getpid())
        env = {**os.environ, **role.environment(), f"{self.spec.prefix}PORT": str(port)}
        inherited: tuple[int, ...] = ()
        if self.spec.metrics_port is not None:
            # A private port each, told to the parent over a pipe (no file: the
            # container's root filesystem may be read-only); the parent serves
            # the replica's metrics port and merges theirs.
            read_end, write_end = os.pipe()
            self.metrics_ports.append(ReportedPort(read_end))
            env[f"{self.spec.prefix}METRICS_PORT"] = "0"
            env[METRICS_PORT_FD_ENV] = str(write_end)
            inherited = (write_end,)
        # The same command line again: `python -m services.user` imports nothing
        # the parent made, so no grpc state crosses a fork.
        try:
            return subprocess.Popen(
                self.spec.argv, env=env, stdin=subprocess.DEVNULL, pass_fds=inherited
            )
        finally:
            for fd in inherited:
                os.close(fd)

    def _supervise(self) -> int:
        failed: subprocess.Popen[bytes] | None = None
        forwarded = False
        while [child for child in self.children if child.poll() is None]:
            if self._signalled is not None and not forwarded:
                log.info("signal received: draining %d server processes", self.spec.count)
                self._signal_living(signal.SIGTERM)
                forwarded = True
            gone = [c for c in self.children if c.returncode is not None]
            if gone and failed is None and not forwarded:
                failed = gone[0]
                log.error(
                    "server process %d (pid %d) exited with %s: stopping the replica, so "
                    "its supervisor restarts it whole",
                    self.children.index(failed),
                    failed.pid,
                    failed.returncode,
                )
                self._signal_living(signal.SIGTERM)
                forwarded = True
            time.sleep(POLL_SECONDS)
        if failed is not None:
            return failed.returncode if failed.returncode > 0 else 1
        codes = [child.returncode for child in self.children]
        return 0 if all(code == 0 for code in codes) else 1

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signalled = signum

    def _signal_living(self, signum: signal.Signals) -> None:
        for child in self.children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signum)

    def _stop_all(self) -> None:
        """On the way out for any reason, leave no server process behind."""
        self._signal_living(signal.SIGTERM)
        deadline = time.monotonic() + self.spec.shutdown_delay + self.spec.grace_period + 5
        for child in self.children:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def claim_port(host: str, port: int) -> socket.socket:
    """Hold host:port for this replica's server processes; OSError when anyone else has it."""
    family, kind, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind) as probe:
        # SO_REUSEADDR as grpc sets it: a port left in TIME_WAIT by the last run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise OSError(f"cannot listen on {host}:{port}: {error.strerror}") from None
        address = probe.getsockname()  # the port the kernel chose, when asked for 0
    guard = socket.socket(family, kind)
    guard.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    guard.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        guard.bind(address)
    except OSError as error:  # taken in the instant between the two binds
        guard.close()
        raise OSError(f"cannot listen on {host}:{address[1]}: {error.strerror}") from None
    return guard


class ReportedPort:
    """The metrics port a server process writes into its pipe once it serves them."""

    def __init__(self, read_end: int) -> None:
        os.set_blocking(read_end, False)
        self.fd: int | None = read_end
        self.port: int | None = None

    def __call__(self) -> int | None:
        """The port, once reported; None until then (and for a process gone silent)."""
        if self.port is None and self.fd is not None:
            try:
                text = os.read(self.fd, 32)
            except BlockingIOError:  # not reported yet
                return None
            self.port = int(text) if text.strip().isdigit() else None
            self.close()  # reported, or the process closed its end without a word
        return self.port

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def main(argv: list[str]) -> int:
    """`python -m protomesh.process_family '<FamilySpec as JSON>'`, as `processes.run` execs it."""
    spec = FamilySpec.from_json(argv[0])
    logs.configure(spec.service, spec.log_level, pretty=spec.log_pretty or None)
    return ProcessFamily(spec).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
