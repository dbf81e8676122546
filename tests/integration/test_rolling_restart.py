"""`protomesh restart order` with two order replicas behind the edge, under a mixed load
of reads and idempotent writes through it: no request fails, because each replica keeps
serving for its shutdown delay after saying NOT_SERVING, and the next one goes only once
the restarted one is healthy in the edge."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from protomesh.registry import DEFAULT_MESH_FILE
from tests.support.cluster_cli import run_protomesh
from tests.support.edge_load import EdgeClient, running
from tests.support.ports import free_port, relocate_infrastructure

pytestmark = pytest.mark.integration

USERS = 4  # PlaceOrder allows each end user 5 a second: spread the load over a few


@dataclass
class Cluster:
    run_dir: Path
    mesh_file: Path
    edge_port: int

    def cli(self, *args: str, timeout: float = 120) -> str:
        result = run_protomesh(self.run_dir, self.mesh_file, *args, timeout=timeout)
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        return result.stdout

    def recorded(self) -> dict[str, dict[str, Any]]:
        state = json.loads((self.run_dir / "cluster.json").read_text())
        return {c["name"]: c for c in state["components"]}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """The project's mesh.yaml on free ports, with two local order replicas."""
    document: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    document["environments"] = ["local"]
    relocate_infrastructure(document)
    document.pop("telemetry", None)
    for name, service in document["services"].items():
        service.pop("replicas", None)
        service.pop("metrics_port", None)
        if name == "order":
            service.pop("port", None)
            service["replicas"] = [{"port": {"local": free_port()}} for _ in range(2)]
        else:
            service["port"] = {"local": free_port()}
    edge_port = free_port()
    document["edge"]["port"] = {"local": edge_port}
    document["edge"]["admin_port"] = {"local": free_port()}
    mesh_file = tmp_path / "mesh.yaml"
    mesh_file.write_text(yaml.safe_dump(document))
    cluster = Cluster(tmp_path / "run", mesh_file, edge_port)
    try:
        yield cluster
    finally:
        supervisor = cluster.run_dir / "supervisor.json"
        pids = [c["pid"] for c in cluster.recorded().values()] if supervisor.exists() else []
        if supervisor.exists():
            pids.append(json.loads(supervisor.read_text())["pid"])
        run_protomesh(cluster.run_dir, mesh_file, "down")
        for pid in pids:  # only if `down` failed to
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def test_a_rolling_restart_of_two_replicas_fails_no_request(cluster: Cluster) -> None:
    cluster.cli("up", timeout=180)
    client = EdgeClient(cluster.edge_port)
    users = [client.sign_up() for _ in range(USERS)]
    tokens = [cluster.cli("token", "--sub", user).strip() for user in users]
    placed: list[str] = []

    def shop(index: int, stop: threading.Event) -> None:
        user, token = users[index], tokens[index]
        while not stop.is_set():
            order = client.place_order(user, token, str(uuid.uuid4()), retries=0)
            if order is not None:
                placed.append(order)
                client.call("get_order", "GET", f"/v1/orders/{order}", token=token)
            client.call("list_orders", "GET", f"/v1/customers/{user}/orders", token=token)
            time.sleep(0.25)  # within PlaceOrder's 5 a second per user

    before = cluster.recorded()
    with running(USERS, shop):
        time.sleep(1)
        restarted = cluster.cli("restart", "order", timeout=120)
        time.sleep(1)

    after = cluster.recorded()
    assert after["order-1"]["pid"] != before["order-1"]["pid"]
    assert after["order-2"]["pid"] != before["order-2"]["pid"]
    assert "order-1  draining ... stopped (SIGTERM)" in restarted
    failed = [o for o in client.outcomes if o.status != 200]
    assert failed == []
    during = [o for o in client.outcomes if o.operation == "place_order"]
    assert len(during) > 20  # the load ran throughout
    assert len(placed) == len(set(placed))
