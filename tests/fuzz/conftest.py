"""One real stack for every fuzzer: user and order services over mTLS, the edge before them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz.budget import Findings
from tests.support.envoy import Envoy, edge_mesh, running_envoy
from tests.support.order_service import running_user_and_order
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess

_RUNS: list[Findings] = []


@pytest.fixture(scope="session")
def fuzzed_services(
    postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    with running_user_and_order(postgres, tmp_path_factory.mktemp("fuzz-services")) as services:
        yield services


@pytest.fixture(scope="session")
def fuzzed_edge(
    fuzzed_services: tuple[ServiceProcess, ServiceProcess],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Envoy]:
    users, orders = fuzzed_services
    mesh = edge_mesh([users.port], order_ports=[orders.port])
    with running_envoy(mesh, Path(tmp_path_factory.mktemp("fuzz-edge"))) as envoy:
        envoy.wait_upstreams_healthy()
        yield envoy


@pytest.fixture
def findings(request: pytest.FixtureRequest) -> Findings:
    """The test's tally, printed at the end of the run whatever the outcome."""
    tally = Findings(request.node.name)
    _RUNS.append(tally)
    return tally


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _RUNS:
        terminalreporter.section("fuzz")
        for tally in _RUNS:
            terminalreporter.write_line(tally.summary())
