"""A change-capture worker as a cluster component: `python -m protomesh.cdc` for one service.

It starts after the service whose tables it watches (their migrations make
the tables), once `protomesh up` has made its role, publication and slot as
the admin (`protomesh_toolkit/db/cdc.py`): the worker holds no admin secret.
It is healthy once it has read its slot: its /metrics then carries
`cdc_slot_lag_bytes`, which `status` shows.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request

from protomesh.paths import ROOT
from protomesh.registry import LOCAL, ChangeCapture, Mesh
from protomesh_toolkit.cluster.components import Component, Health
from protomesh_toolkit.cluster.ports import HOST
from protomesh_toolkit.db.cdc import prepare_capture
from protomesh_toolkit.layout import Layout
from protomesh_toolkit.topology.wiring import Wiring, cdc_settings

PROBE_TIMEOUT = 1.0
_LAG = re.compile(rb"^cdc_slot_lag_bytes\{[^}]*\} (\S+)$", re.MULTILINE)


class CdcProcess(Component):
    kind = "cdc"

    def __init__(self, mesh: Mesh, capture: ChangeCapture, layout: Layout, wiring: Wiring) -> None:
        super().__init__(capture.name, capture.metrics_ports[LOCAL], layout)
        self.mesh = mesh
        self.capture = capture
        service = mesh.services[capture.service]
        self.service = service
        self.wiring = wiring

    def environment(self) -> dict[str, str]:
        own = cdc_settings(self.capture, self.service, self.wiring, metrics_port=self.port)
        return {**os.environ, **own, "PROTOMESH_ENV": LOCAL, "PYTHONUNBUFFERED": "1"}

    def launch(self, timeout: float) -> int:
        # The set-up that takes the admin runs here, in `protomesh up`: the worker gets
        # its own role's password only.
        prepare_capture(self.mesh, self.capture, self.wiring, wait=timeout)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "protomesh.cdc"],
                cwd=ROOT,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.process.pid

    def probe(self) -> Health:
        return probe_cdc(self.port)


def probe_cdc(metrics_port: int) -> Health:
    try:
        url = f"http://{HOST}:{metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT) as reply:
            body = reply.read()
    except OSError:
        return Health(False, "no answer on its metrics port")
    lag = _LAG.search(body)
    if lag is None:
        return Health(False, "has not read its slot yet")
    return Health(True, f"capturing; slot lag {float(lag.group(1)):.0f} bytes")
