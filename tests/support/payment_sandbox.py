"""The payment provider's sandbox for tests: as its own process, or one shared in-thread.

`running_sandbox()` starts `python -m protomesh_toolkit.payment_sandbox` (the
pattern tests, which inject faults and count holds: a sandbox of their own).
`shared_sandbox()` is one in-thread server per test process, the default
provider of every order service `tests.support.order_service` starts.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protomesh.paths import ROOT
from protomesh_toolkit.payment_sandbox.server import SandboxServer
from tests.support.ports import free_port

START_TIMEOUT = 10.0


@dataclass(frozen=True)
class Sandbox:
    url: str

    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            return json.loads(reply.read())

    def inject(self, mode: str, count: int = 1, delay: float = 0.0) -> None:
        """The next `count` calls are slow / fail / decline / garble."""
        self._call("/_control", {"mode": mode, "count": count, "delay": delay})

    def authorisations(self) -> list[dict[str, Any]]:
        listing: list[dict[str, Any]] = self._call("/v2/authorisations")["authorisations"]
        return listing

    def held(self) -> list[dict[str, Any]]:
        return [a for a in self.authorisations() if a["state"] == "HELD"]

    def healthy(self) -> bool:
        try:
            return bool(self._call("/health")["status"] == "UP")
        except OSError:
            return False


@functools.cache
def shared_sandbox() -> Sandbox:
    server = SandboxServer(("127.0.0.1", 0))
    threading.Thread(target=server.serve_forever, name="payment-sandbox", daemon=True).start()
    return Sandbox(f"http://127.0.0.1:{server.server_address[1]}")


@contextlib.contextmanager
def running_sandbox(log_file: Path) -> Iterator[Sandbox]:
    """The sandbox as its own process on a free port; its process group is killed on the way out."""
    port = free_port()
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "protomesh_toolkit.payment_sandbox", f"--port={port}"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        sandbox = Sandbox(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + START_TIMEOUT
        while not sandbox.healthy():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the payment sandbox did not start: {log_file.read_text()}")
            time.sleep(0.05)
        yield sandbox
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
