"""Pattern 16, inside the services: rate limits per caller and per end user, and load shedding.

The edge half (per-route buckets, per-client quotas) is in
test_p16_edge_limits.py. Here the probe service runs the real runtime over
mTLS with the user service's `limits` from a test registry, and each test
would pass without the mechanism it names only if that mechanism were there:
- each calling service (its SPIFFE identity) spends a CreateUser budget of its
  own: the operator runs dry and is told when to retry and which quota ran
  out, while the edge, calling the same method, is still served;
- each end user the edge forwards spends a ListUsers budget of their own, and
  the REST client that runs dry gets HTTP 429 with `Retry-After`;
- past `max_concurrent_calls` a call is refused at once with
  RESOURCE_EXHAUSTED and a retry hint (429 + Retry-After through the edge),
  every accepted call still succeeds, and health stays SERVING.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
import yaml
from google.rpc import error_details_pb2
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from protomesh.registry import DEFAULT_MESH_FILE
from tests.support import mesh_tls
from tests.support.edge_upstream import SLOW_SECONDS, Probe, probe_upstream
from tests.support.envoy import Envoy, edge_mesh, running_envoy
from tests.support.grpc_calls import health, health_async, status_of

pytestmark = pytest.mark.integration

MAX_CONCURRENT_CALLS = 4
LIMITS = {
    "max_concurrent_calls": MAX_CONCURRENT_CALLS,
    "methods": {
        "shop.user.v1.UserService/CreateUser": {"per_caller": {"requests": 3, "per": "1m"}},
        "shop.user.v1.UserService/ListUsers": {"per_end_user": {"requests": 2, "per": "1m"}},
    },
}
QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
# The overload: more clients than slots, each making a few calls, all bounded.
CLIENTS, CALLS_EACH, DEADLINE = 16, 4, 10.0


def sign_in_to_list(document: dict[str, Any]) -> None:
    """Any signed-in user may list here (the project's mesh says admins only)."""
    document["edge"]["routes"]["shop.user.v1.UserService/ListUsers"] = {"auth": "signed_in"}


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    directory = tmp_path_factory.mktemp("p16")
    document = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    document["services"]["user"]["limits"] = LIMITS
    sign_in_to_list(document)
    registry = directory / "mesh.yaml"
    registry.write_text(yaml.safe_dump(document))
    with probe_upstream(directory, mesh=registry) as running:
        yield running


@pytest.fixture(scope="module")
def edge(probe: Probe, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Envoy]:
    mesh = edge_mesh([probe.port], sign_in_to_list)
    with running_envoy(mesh, tmp_path_factory.mktemp("p16-edge")) as envoy:
        envoy.wait_upstreams_healthy()
        yield envoy


def unpack(error: grpc.RpcError, kind: type[Any]) -> Any:
    message = kind()
    assert any(d.Unpack(message) for d in status_of(error).details), f"no {kind.__name__}"
    return message


def create_as(probe: Probe, identity: str) -> grpc.RpcError | None:
    with mesh_tls.channel(f"127.0.0.1:{probe.port}", identity) as channel:
        try:
            v1_grpc.UserServiceStub(channel).CreateUser(
                v1.CreateUserRequest(email="p16@example.com"), timeout=5
            )
        except grpc.RpcError as error:
            return error
    return None


def test_each_calling_service_spends_a_budget_of_its_own(probe: Probe) -> None:
    outcomes = [create_as(probe, "operator") for _ in range(4)]
    assert outcomes[:3] == [None, None, None]
    refused = outcomes[3]
    assert refused is not None
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    retry = unpack(refused, error_details_pb2.RetryInfo)
    assert 0 < retry.retry_delay.ToSeconds() <= 60  # 3 a minute: a token within 20 s
    quota = unpack(refused, error_details_pb2.QuotaFailure)
    assert [v.subject for v in quota.violations] == ["caller:operator"]
    assert create_as(probe, "edge") is None  # another identity, another bucket


def test_each_end_user_spends_a_budget_of_their_own_and_rest_gets_429_retry_after(
    edge: Envoy,
) -> None:
    def list_as(subject: str) -> Any:
        headers = {"authorization": f"Bearer {edge.token(subject)}"}
        return edge.request("GET", "/v1/users", headers=headers)

    replies = [list_as("alice") for _ in range(3)]
    assert [reply.status for reply in replies] == [200, 200, 429]
    limited = replies[-1]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "x-ratelimit-limit" not in limited.headers  # the service refused it, not Envoy
    (quota,) = [d for d in limited.json()["details"] if d["@type"] == QUOTA_FAILURE]
    assert quota["violations"][0]["subject"] == "end_user:alice"
    assert list_as("bob").status == 200


async def test_overload_is_shed_at_once_while_every_accepted_call_succeeds(probe: Probe) -> None:
    accepted: list[float] = []
    shed: list[float] = []
    failed: list[grpc.aio.AioRpcError] = []
    address = f"127.0.0.1:{probe.port}"

    async with mesh_tls.aio_channel(address) as channel:
        stub = v1_grpc.UserServiceStub(channel)

        async def client() -> None:
            for _ in range(CALLS_EACH):
                started = time.perf_counter()
                try:
                    await stub.GetUser(v1.GetUserRequest(user_id="SLOW"), timeout=DEADLINE)
                    accepted.append(time.perf_counter() - started)
                except grpc.aio.AioRpcError as error:
                    if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                        failed.append(error)
                        continue
                    shed.append(time.perf_counter() - started)
                    retry = unpack(error, error_details_pb2.RetryInfo)  # a polite client waits
                    await asyncio.sleep(retry.retry_delay.ToNanoseconds() / 1e9)

        load = asyncio.gather(*(client() for _ in range(CLIENTS)))
        await asyncio.sleep(SLOW_SECONDS / 2)  # every slot taken, the rest being shed
        health_under_load = await health_async(channel)
        await asyncio.wait_for(load, CLIENTS * CALLS_EACH * SLOW_SECONDS)

    accepted.sort()
    p99 = accepted[min(len(accepted) - 1, int(len(accepted) * 0.99))]
    share = len(shed) / (len(shed) + len(accepted))
    slowest_refusal = max(shed, default=0.0)
    print(
        f"\noverload: {CLIENTS} clients x {CALLS_EACH} calls of a {SLOW_SECONDS:.1f}s handler, "
        f"max_concurrent_calls={MAX_CONCURRENT_CALLS}: {len(accepted)} accepted "
        f"(p99 {p99 * 1000:.0f} ms), {len(shed)} shed ({share:.0%}, slowest refusal "
        f"{slowest_refusal * 1000:.0f} ms), {len(failed)} failed"
    )
    assert failed == []
    assert accepted
    assert shed
    assert slowest_refusal < SLOW_SECONDS  # refused at once, not queued behind the slow calls
    assert health_under_load == "SERVING"
    assert health(address) == "SERVING"


def test_shed_calls_reach_rest_clients_as_429_with_retry_after(edge: Envoy) -> None:
    with ThreadPoolExecutor(2 * MAX_CONCURRENT_CALLS) as pool:
        replies = list(
            pool.map(
                lambda _: edge.request("GET", "/v1/users/SLOW"), range(2 * MAX_CONCURRENT_CALLS)
            )
        )
    statuses = sorted(reply.status for reply in replies)
    assert set(statuses) == {200, 429}, statuses
    assert all(r.headers["retry-after"] == "1" for r in replies if r.status == 429)
