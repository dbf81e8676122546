"""A real NATS server with JetStream on a free loopback port, stopped by pid."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from protomesh.codegen import tool
from tests.support.ports import free_port

START_TIMEOUT = 10.0


@dataclass
class NatsServer:
    port: int
    log_file: Path

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


@contextlib.contextmanager
def running_nats(directory: Path) -> Iterator[NatsServer]:
    port = free_port()
    log_file = directory / "nats.log"
    command = [tool("nats-server"), "-js", "-a", "127.0.0.1", "-p", str(port)]
    command += ["-sd", str(directory / "jetstream"), "-n", f"test-{port}"]
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nats-server did not start:\n{log_file.read_text()[-2000:]}")
            time.sleep(0.05)
        yield NatsServer(port, log_file)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
