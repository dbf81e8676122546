"""`protomesh up --otlp`: the local receiver collects the edge's and the services' spans,
and `protomesh traces` lists them and prints one trace as a tree."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from protomesh.registry import DEFAULT_MESH_FILE
from tests.integration.test_edge_cluster import Cluster
from tests.support.cluster_cli import run_protomesh
from tests.support.ports import free_port, relocate_infrastructure

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    document: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    document["environments"] = ["local"]
    document["telemetry"] = {"receiver_port": {"local": free_port()}, "sample_rate": 1.0}
    relocate_infrastructure(document)
    for service in document["services"].values():
        service.pop("replicas", None)  # one process each, its own ports
        service["port"] = {"local": free_port()}
        service["metrics_port"] = {"local": free_port()}
    edge_port = free_port()
    document["edge"]["port"] = {"local": edge_port}
    document["edge"]["admin_port"] = {"local": free_port()}
    mesh_file = tmp_path / "mesh.yaml"
    mesh_file.write_text(yaml.safe_dump(document))
    running = Cluster(tmp_path / "run", mesh_file, edge_port)
    try:
        yield running
    finally:
        pids = running.pids()
        run_protomesh(running.run_dir, mesh_file, "down")
        for pid in pids.values():  # only if `down` failed to
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def test_up_otlp_collects_one_trace_per_call_and_traces_prints_it(cluster: Cluster) -> None:
    up = cluster.cli("up", "--otlp")
    started = [line.split()[0] for line in up.stdout.splitlines() if "starting ..." in line]
    assert started[0] == "otlp"
    assert " traces TRACE_ID" in up.stdout
    lines = up.stdout.splitlines()
    user_block = next(i for i, line in enumerate(lines) if line.split()[:2] == ["user", "grpc"])
    metrics_url = next(  # the user service's (others print theirs too)
        line.split()[1] for line in lines[user_block:] if line.strip().startswith("metrics ")
    )

    body = json.dumps({"email": "trace@example.com", "display_name": "Ada"}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{cluster.edge_port}/v1/users",
        data=body,
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.status == 200

    deadline = time.monotonic() + 30  # services and Envoy flush about every 5 s
    while True:
        listed = cluster.cli("traces").stdout
        rows = [line for line in listed.splitlines() if "edge: ingress" in line]
        if rows and int(rows[0].split()[1]) >= 4:
            break
        assert time.monotonic() < deadline, listed
        time.sleep(0.5)
    with urllib.request.urlopen(metrics_url, timeout=5) as scraped:
        text = scraped.read().decode()
    assert 'rpc_server_requests_total{code="OK",method="/shop.user.v1.UserService/CreateUser"}' in (
        text
    )
    trace_id = rows[0].split()[0]
    tree = cluster.cli("traces", trace_id).stdout.splitlines()
    assert tree[0].startswith(f"trace {trace_id}")
    assert tree[1].split()[:3] == ["edge", "SERVER", "ingress"]
    server = next(line for line in tree if "shop.user.v1.UserService/CreateUser" in line)
    query = next(line for line in tree if "INSERT" in line)
    assert server.index("user") < query.index("user")  # the query is nested under the call
