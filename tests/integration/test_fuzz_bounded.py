"""A bounded fuzz run in the suite: a few hundred bad requests at the edge and over mTLS.

The real user and order services, PostgreSQL and Envoy; the cases, the rules
every reply must keep and the interleaved known-good calls are tests/mesh_fuzz's.
`make fuzz N=...` runs longer ones on a mesh of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mesh_fuzz.cases import REST, Case
from tests.mesh_fuzz.oracle import judge_rest
from tests.mesh_fuzz.runner import Fuzzer
from tests.mesh_fuzz.stack import existing_customer
from tests.support.envoy import Envoy, edge_mesh, running_envoy
from tests.support.order_service import running_user_and_order
from tests.support.postgres import Postgres

pytestmark = pytest.mark.integration

CASES = 250
SEED = 20  # fixed, so a failure here is repeatable with `make fuzz N=250 SEED=20`
MAX_SECONDS = 45.0


@pytest.fixture(scope="module")
def fuzzer(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzer]:
    directory = tmp_path_factory.mktemp("fuzz")
    with running_user_and_order(postgres, directory) as (users, orders):
        mesh = edge_mesh([users.port], order_ports=[orders.port])
        with running_envoy(mesh, Path(tmp_path_factory.mktemp("edge"))) as edge:
            edge.wait_upstreams_healthy()
            services = {"user": users.address, "order": orders.address}
            running = Fuzzer(edge, services, existing_customer(edge))
            yield running
            running.close()


def test_no_bad_request_gets_a_5xx_unknown_or_a_leak_nor_hurts_the_next_client(
    fuzzer: Fuzzer,
) -> None:
    started = time.monotonic()
    report = fuzzer.run(CASES, SEED, MAX_SECONDS)
    assert report.cases >= CASES // 2, report.summary()  # the time bound cut it short
    assert not report.findings, report.summary()
    assert time.monotonic() - started < MAX_SECONDS + 10


def test_the_fuzzer_sees_a_finding_when_there_is_one(fuzzer: Fuzzer) -> None:
    """The oracle is not blind: a reply naming an exception class is a finding."""
    case = Case(REST, "GET", "/v1/users/x", (), b"", "application/json", "user")
    leaked = judge_rest(case, 400, {}, b"Unexpected <class 'DecodeError'>")
    assert leaked.finding is not None
    assert judge_rest(case, 500, {}, b"{}").finding is not None
    assert judge_rest(case, 400, {"grpc-status": "3"}, b'{"code": 3}').finding is None


def test_the_edge_still_answers_after_the_run(fuzzer: Fuzzer) -> None:
    edge: Envoy = fuzzer.edge
    signed_in = {"authorization": f"Bearer {fuzzer.token}"}
    assert edge.request("GET", f"/v1/users/{fuzzer.customer}", headers=signed_in).status == 200
