"""The payment provider's sandbox as a cluster component (mesh.yaml `infrastructure.payments`).

Locally the external provider is `python -m protomesh_toolkit.payment_sandbox`;
it starts before the services that depend on it and is healthy when its
`/health` answers UP. Its books live in memory: `down` forgets them.
"""

from __future__ import annotations

import json
import sys
import urllib.request

from protomesh_toolkit.cluster.components import Component, Health
from protomesh_toolkit.cluster.ports import HOST
from protomesh_toolkit.layout import Layout

PROBE_TIMEOUT = 1.0


class PaymentSandboxProcess(Component):
    kind = "payments"

    def __init__(self, port: int, layout: Layout) -> None:
        super().__init__("payments", port, layout)

    def launch(self, timeout: float) -> int:
        command = [
            sys.executable,
            "-m",
            "protomesh_toolkit.payment_sandbox",
            f"--host={HOST}",
            f"--port={self.port}",
        ]
        return self.spawn(command)

    def probe(self) -> Health:
        return probe_payments(self.port)


def probe_payments(port: int) -> Health:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=PROBE_TIMEOUT) as reply:
            body = json.loads(reply.read())
    except (OSError, ValueError):
        return Health(False, "no answer on /health")
    up = isinstance(body, dict) and body.get("status") == "UP"
    return Health(up, "UP" if up else "unexpected reply")
