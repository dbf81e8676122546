"""The local OTLP receiver as a cluster component: `protomesh up --otlp`.

It starts first, so every service and the edge can export to it from their
first span; spans land in the run directory (`traces/spans.jsonl`), where
`protomesh traces` reads them. A cluster started with it keeps it on later
`up`s, until `down`.
"""

from __future__ import annotations

import socket
import sys

from protomesh_toolkit.cluster.components import Component, Health
from protomesh_toolkit.cluster.ports import HOST
from protomesh_toolkit.layout import Layout

NAME = "otlp"
PROBE_TIMEOUT = 1.0


class OtlpReceiverProcess(Component):
    kind = "otlp"

    def __init__(self, port: int, layout: Layout) -> None:
        super().__init__(NAME, port, layout)

    @property
    def endpoint(self) -> str:
        return f"{HOST}:{self.port}"

    def launch(self, timeout: float) -> int:
        command = [
            sys.executable,
            "-m",
            "protomesh_toolkit.traces.receiver",
            f"--host={HOST}",
            f"--port={self.port}",
            f"--out={self.layout.traces_file}",
        ]
        return self.spawn(command)

    def probe(self) -> Health:
        return probe_receiver(self.port)


def probe_receiver(port: int) -> Health:
    """Healthy when it accepts connections (it has no health service: it is not ours to extend)."""
    try:
        with socket.create_connection((HOST, port), timeout=PROBE_TIMEOUT):
            return Health(True, "accepting OTLP/gRPC")
    except OSError as error:
        return Health(False, f"no answer ({error.strerror or error})")
