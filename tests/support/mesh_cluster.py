"""The project's mesh.yaml as a local cluster of a test's own: free ports, its own run dir.

Started and stopped with the `protomesh` command as a user does; the cleanup
stops the supervisor and every recorded process by pid if `down` could not.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import yaml

from protomesh.registry import DEFAULT_MESH_FILE
from tests.support.cluster_cli import run_protomesh
from tests.support.ports import free_port, relocate_infrastructure


@dataclass
class MeshCluster:
    run_dir: Path
    mesh_file: Path
    document: dict[str, Any]

    @property
    def edge_port(self) -> int:
        return int(self.document["edge"]["port"]["local"])

    def port_of(self, part: str) -> int:
        return int(self.document["infrastructure"][part]["port"]["local"])

    def cli(self, *args: str, timeout: float = 120) -> str:
        result = run_protomesh(self.run_dir, self.mesh_file, *args, timeout=timeout)
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        return result.stdout

    def recorded(self) -> dict[str, dict[str, Any]]:
        state = json.loads((self.run_dir / "cluster.json").read_text())
        return {c["name"]: c for c in state["components"]}

    async def admin_connection(self) -> asyncpg.Connection:
        """PostgreSQL as its admin, who reads every service's schema (to check from outside)."""
        password = (self.run_dir / "secrets" / "postgres_admin_password").read_text().strip()
        connection: asyncpg.Connection = await asyncpg.connect(
            host="127.0.0.1",
            port=self.port_of("postgres"),
            user="postgres",
            password=password,
            database="postgres",
        )
        return connection

    def status(self) -> dict[str, dict[str, Any]]:
        result = run_protomesh(self.run_dir, self.mesh_file, "status", "--json", timeout=30)
        return {c["name"]: c for c in json.loads(result.stdout)["components"]}


@contextlib.contextmanager
def mesh_cluster(directory: Path, order_replicas: int = 1) -> Iterator[MeshCluster]:
    document: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    document["environments"] = ["local"]
    relocate_infrastructure(document)
    document.pop("telemetry", None)
    for name, service in document["services"].items():
        service.pop("replicas", None)
        service.pop("metrics_port", None)
        service["port"] = {"local": free_port()}
        if name == "order" and order_replicas > 1:
            del service["port"]
            service["replicas"] = [{"port": {"local": free_port()}} for _ in range(order_replicas)]
    document["edge"]["port"] = {"local": free_port()}
    document["edge"]["admin_port"] = {"local": free_port()}
    mesh_file = directory / "mesh.yaml"
    mesh_file.write_text(yaml.safe_dump(document))
    cluster = MeshCluster(directory / "run", mesh_file, document)
    try:
        yield cluster
    finally:
        pids = []
        if (cluster.run_dir / "cluster.json").exists():
            pids = [c["pid"] for c in cluster.recorded().values()]
        supervisor = cluster.run_dir / "supervisor.json"
        if supervisor.exists():
            pids.append(json.loads(supervisor.read_text())["pid"])
        run_protomesh(cluster.run_dir, mesh_file, "down")
        for pid in pids:  # only if `down` failed to
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether `condition` came true within `timeout` seconds, looking every 0.2 s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
