"""The mesh console as a cluster component: started last by `protomesh up`, on 127.0.0.1.

It reads the same run directory and mesh file as the command that started
it (passed in its environment), so a second cluster's console shows that
cluster. mesh.yaml's `telemetry.console_port.local` names its port; a mesh
without one runs without a console.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

from protomesh_toolkit.cluster.components import Component, Health
from protomesh_toolkit.cluster.ports import HOST
from protomesh_toolkit.layout import MESH_FILE_VARIABLE, RUN_DIR_VARIABLE, Layout

NAME = "console"
HEALTH_PATH = "/healthz"
PROBE_TIMEOUT = 1.0


class ConsoleProcess(Component):
    kind = "console"

    def __init__(self, port: int, layout: Layout) -> None:
        super().__init__(NAME, port, layout)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def launch(self, timeout: float) -> int:
        environment = {
            **os.environ,
            RUN_DIR_VARIABLE: str(self.layout.run_dir),
            MESH_FILE_VARIABLE: str(self.layout.mesh_file),
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "protomesh_toolkit.console", f"--port={self.port}"]
        return self.spawn(command, environment)

    def probe(self) -> Health:
        return probe_console(self.port)


def probe_console(port: int) -> Health:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{HEALTH_PATH}", timeout=PROBE_TIMEOUT):
            return Health(True, f"http://{HOST}:{port}/")
    except (OSError, urllib.error.URLError) as error:
        return Health(False, f"no answer ({error})")
