"""NATS with JetStream as a cluster component: the venv's `nats-server`, on loopback.

Its JetStream store lives in the run directory, so streams, consumers and
their dedupe state survive `down` and `up`; `down --purge` deletes them with
the rest. It is healthy when the monitor's `/healthz?js-enabled-only=true`
answers ok: the server is up *and* JetStream is ready to take streams.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request

from protomesh.registry import LOCAL, Infrastructure
from protomesh_toolkit.cluster.components import Component, Health
from protomesh_toolkit.cluster.ports import HOST
from protomesh_toolkit.embedded.nats import nats_command
from protomesh_toolkit.layout import Layout

HEALTH_PATH = "/healthz?js-enabled-only=true"
PROBE_TIMEOUT = 1.0


class NatsProcess(Component):
    kind = "nats"

    def __init__(self, nats: Infrastructure, layout: Layout) -> None:
        super().__init__("nats", nats.ports[LOCAL], layout)
        self.admin_port = nats.monitor_ports[LOCAL]

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    def launch(self, timeout: float) -> int:
        self.layout.nats_store.mkdir(mode=0o700, parents=True, exist_ok=True)
        assert self.admin_port is not None
        command = nats_command(self.port, self.admin_port, self.layout.nats_store, "protomesh")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.layout.run_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.process.pid

    def probe(self) -> Health:
        assert self.admin_port is not None
        return probe_nats(self.admin_port)


def probe_nats(monitor_port: int) -> Health:
    url = f"http://{HOST}:{monitor_port}{HEALTH_PATH}"
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT) as reply:
            body = json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return Health(False, f"HTTP {error.code}: {error.read().decode(errors='replace')[:80]}")
    except (OSError, ValueError):
        return Health(False, "no answer from the monitor")
    status = body.get("status") if isinstance(body, dict) else None
    return Health(status == "ok", f"JetStream {status}" if status else "unexpected reply")
