"""The parent's /metrics: every server process's samples, each labelled with its process."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from protomesh.telemetry.exposition import MetricsServer
from protomesh.telemetry.process_metrics import serve_family_metrics


def served(registry: CollectorRegistry) -> MetricsServer:
    return MetricsServer(*start_http_server(0, addr="127.0.0.1", registry=registry))


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[list[Path]]:
    """Two registries as two server processes would serve them, and a third never started."""
    servers = []
    files = []
    for index, calls in enumerate((3, 5)):
        registry = CollectorRegistry()
        counter = Counter("rpc_server_requests", "RPCs", ["method"], registry=registry)
        counter.labels("/shop.user.v1.UserService/GetUser").inc(calls)
        servers.append(served(registry))
        files.append(tmp_path / f"process-{index}.metrics-port")
        files[-1].write_text(str(servers[-1].port))
    files.append(tmp_path / "process-2.metrics-port")  # not reported yet
    yield files
    for server in servers:
        server.stop()


def test_the_parent_serves_each_process_sample_with_its_label(two_processes: list[Path]) -> None:
    family = serve_family_metrics("127.0.0.1", 0, two_processes)
    try:
        url = f"http://127.0.0.1:{family.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            text = reply.read().decode()
    finally:
        family.stop()
    counted = {
        sample.labels["process"]: sample.value
        for metric in text_string_to_metric_families(text)
        for sample in metric.samples
        if sample.name == "rpc_server_requests_total"
    }
    assert counted == {"0": 3.0, "1": 5.0}
    assert text.count("# TYPE rpc_server_requests_total counter") == 1
