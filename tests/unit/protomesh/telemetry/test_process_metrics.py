"""The parent's /metrics: every server process's samples, each labelled with its process."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from protomesh.process_family import ReportedPort
from protomesh.process_role import METRICS_PORT_FD_ENV, report_metrics_port
from protomesh.telemetry.exposition import MetricsServer
from protomesh.telemetry.process_metrics import serve_family_metrics


def served(registry: CollectorRegistry) -> MetricsServer:
    return MetricsServer(*start_http_server(0, addr="127.0.0.1", registry=registry))


@pytest.fixture
def two_processes() -> Iterator[list[ReportedPort]]:
    """Two registries as two server processes would serve them, and a third not serving yet;
    each tells its port through a pipe, as a server process does."""
    servers, ports = [], []
    for calls in (3, 5):
        registry = CollectorRegistry()
        counter = Counter("rpc_server_requests", "RPCs", ["method"], registry=registry)
        counter.labels("/shop.user.v1.UserService/GetUser").inc(calls)
        servers.append(served(registry))
        read_end, write_end = os.pipe()
        ports.append(ReportedPort(read_end))
        report_metrics_port(servers[-1].port, {METRICS_PORT_FD_ENV: str(write_end)})
    read_end, silent = os.pipe()
    ports.append(ReportedPort(read_end))
    yield ports
    os.close(silent)
    for port in ports:
        port.close()
    for server in servers:
        server.stop()


def test_the_parent_serves_each_process_sample_with_its_label(
    two_processes: list[ReportedPort],
) -> None:
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


def test_a_process_that_closes_its_pipe_without_a_port_is_left_out() -> None:
    read_end, write_end = os.pipe()
    port = ReportedPort(read_end)
    assert port() is None  # nothing written yet
    os.close(write_end)
    assert port() is None
    assert port.fd is None  # read to its end and closed
