"""NATS with JetStream as a cluster component: the venv's `nats-server`, on loopback.

Its JetStream store lives in the run directory, so streams, consumers and
their dedupe state survive `down` and `up`; `down --purge` deletes them with
the rest. It is healthy when the monitor's `/healthz?js-enabled-only=true`
answers ok: the server is up *and* JetStream is ready to take streams.

Clients connect over mutual TLS only, each mapped by its certificate's
SPIFFE id to a user with its own permissions (`embedded/nats_auth.py`); the
server's config is written to the run directory at every start, from the
registry. Under PROTOMESH_INSECURE=1 it is the open plaintext server of old.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request

from protomesh.registry import LOCAL, Mesh
from protomesh.tls.files import TlsFiles, insecure
from protomesh_toolkit.cluster.components import Component, Health
from protomesh_toolkit.cluster.ports import HOST
from protomesh_toolkit.codegen import tool
from protomesh_toolkit.embedded.nats_auth import SERVER_IDENTITY, server_config
from protomesh_toolkit.layout import Layout

HEALTH_PATH = "/healthz?js-enabled-only=true"
PROBE_TIMEOUT = 1.0


class NatsProcess(Component):
    kind = "nats"

    def __init__(self, mesh: Mesh, layout: Layout) -> None:
        nats = mesh.infrastructure["nats"]
        super().__init__("nats", nats.ports[LOCAL], layout)
        self.admin_port = nats.monitor_ports[LOCAL]
        self.mesh = mesh

    @property
    def url(self) -> str:
        """tls:// unless the mesh runs insecure: clients must present a mesh certificate."""
        return f"{'nats' if insecure() else 'tls'}://{HOST}:{self.port}"

    def launch(self, timeout: float) -> int:
        self.layout.nats_store.mkdir(mode=0o700, parents=True, exist_ok=True)
        assert self.admin_port is not None
        tls = None if insecure() else TlsFiles.of(self.layout.certs_dir, SERVER_IDENTITY)
        config = server_config(
            self.mesh,
            host=HOST,
            port=self.port,
            monitor_port=self.admin_port,
            store_dir=self.layout.nats_store,
            tls=tls,
        )
        config_file = self.layout.run_dir / "nats.conf"
        config_file.write_text(json.dumps(config, indent=2) + "\n")
        command = [tool("nats-server"), "-c", str(config_file)]
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
