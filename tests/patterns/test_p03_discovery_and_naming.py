"""Pattern 3: service discovery and naming, on two real user service replicas.

Proven here: a client finds the user service by name in the registry
(mesh.yaml) and nowhere else; its channel balances calls over both replicas;
a replica that drains on SIGTERM turns NOT_SERVING and the channel stops
sending it calls while it still accepts them, so stopping it fails no call.
Which replica served a call is read from the replicas' own access logs, by
the call's request id.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from protomesh.channels import channel_for
from protomesh.registry import DEFAULT_MESH_FILE, load_mesh
from tests.support import mesh_tls
from tests.support.postgres import Postgres
from tests.support.replicas import user_replicas
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.integration

ENVIRONMENT = "local"
SHUTDOWN_DELAY = 5.0  # seconds a draining replica keeps serving while NOT_SERVING
MAX_CALLS = 20_000  # bounds on the load loop, whatever the machine's speed
MAX_SECONDS = 60.0


@pytest.fixture
def replicas(postgres: Postgres, tmp_path: Path) -> Iterator[list[ServiceProcess]]:
    started = user_replicas(postgres, tmp_path, 2, shutdown_delay=str(SHUTDOWN_DELAY))
    try:
        for replica in started:
            replica.start()
        yield started
    finally:
        for replica in started:
            replica.kill()


def write_mesh(path: Path, ports: list[int]) -> Path:
    """The project's own registry, with the user service's local replicas on these ports."""
    document: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    user = document["services"]["user"]
    first = user.pop("port", None) or user.pop("replicas")[0]["port"]
    user.pop("metrics_port", None)  # replicas would each need their own
    elsewhere = {env: port for env, port in first.items() if env != ENVIRONMENT}
    user["replicas"] = [{"port": {ENVIRONMENT: port}} for port in ports]
    user["replicas"][0]["port"].update(elsewhere)  # other environments keep theirs
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


class Caller:
    """GetUser calls through a channel, each tagged with a request id of its own."""

    def __init__(self, channel: grpc.aio.Channel, user_id: str) -> None:
        self.users = v1_grpc.UserServiceStub(channel)
        self.user_id = user_id
        self.sent: list[str] = []
        self.failures: list[grpc.StatusCode] = []

    async def call(self) -> str | None:
        """The request id of a successful call; a failure is recorded instead."""
        request_id = str(uuid.uuid4())
        self.sent.append(request_id)
        try:
            reply = await self.users.GetUser(
                v1.GetUserRequest(user_id=self.user_id),
                metadata=(("x-request-id", request_id),),
            )
        except grpc.aio.AioRpcError as error:
            self.failures.append(error.code())
            return None
        assert reply.user.user_id == self.user_id
        return request_id

    async def calls(self, count: int) -> list[str]:
        return [rid for _ in range(count) if (rid := await self.call()) is not None]


def served_by(replicas: list[ServiceProcess], request_ids: list[str]) -> Counter[int]:
    """How many of these calls each replica (by port) logged as served: its access log lines."""
    wanted = set(request_ids)
    counts: Counter[int] = Counter()
    for replica in replicas:
        for line in replica.log().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("rpc_method") and entry.get("request_id") in wanted:
                counts[replica.port] += 1
    return counts


async def logged(replicas: list[ServiceProcess], request_ids: list[str]) -> Counter[int]:
    """Access log lines are written after the reply leaves: wait, bounded, for all of them."""
    async with asyncio.timeout(10):
        while sum((counts := served_by(replicas, request_ids)).values()) < len(request_ids):
            await asyncio.sleep(0.05)
    return counts


async def create_user(channel: grpc.aio.Channel) -> str:
    created = await v1_grpc.UserServiceStub(channel).CreateUser(
        v1.CreateUserRequest(email=f"{uuid.uuid4().hex[:8]}@example.com", display_name="P3")
    )
    return created.user.user_id


async def test_a_channel_found_by_name_spreads_calls_over_both_replicas(
    replicas: list[ServiceProcess], tmp_path: Path
) -> None:
    mesh = load_mesh(write_mesh(tmp_path / "mesh.yaml", [r.port for r in replicas]))
    async with channel_for("user", mesh, ENVIRONMENT, tls=mesh_tls.files()) as channel:
        caller = Caller(channel, await create_user(channel))
        counts = await logged(replicas, await caller.calls(40))
    assert caller.failures == []
    assert set(counts) == {r.port for r in replicas}  # both replicas served calls...
    assert min(counts.values()) >= 10  # ...and round robin shared them out


async def test_the_registry_is_the_only_source_of_addresses(
    replicas: list[ServiceProcess], tmp_path: Path
) -> None:
    """Edit the registry file and the same code, calling the same name, reaches another process."""
    first, second = replicas
    mesh_file = tmp_path / "mesh.yaml"
    for replica in (first, second):
        mesh = load_mesh(write_mesh(mesh_file, [replica.port]))
        async with channel_for("user", mesh, ENVIRONMENT, tls=mesh_tls.files()) as channel:
            caller = Caller(channel, await create_user(channel))
            counts = await logged(replicas, await caller.calls(10))
        assert counts == {replica.port: 10}


async def test_stopping_a_replica_fails_no_call(
    replicas: list[ServiceProcess], tmp_path: Path
) -> None:
    draining, staying = replicas
    mesh = load_mesh(write_mesh(tmp_path / "mesh.yaml", [r.port for r in replicas]))
    async with channel_for("user", mesh, ENVIRONMENT, tls=mesh_tls.files()) as channel:
        caller = Caller(channel, await create_user(channel))
        warmed = await logged(replicas, await caller.calls(20))
        assert set(warmed) == {draining.port, staying.port}

        assert draining.process is not None
        draining.process.terminate()  # SIGTERM, to this replica's pid alone
        load = asyncio.create_task(_call_until_exited(caller, draining))
        # While it drains it still accepts calls (a direct call works), yet the
        # channel, told NOT_SERVING by its health watch, sends it none.
        await _wait_for_log(draining, "draining: NOT_SERVING")
        await _settle_on(caller, replicas, staying)
        during_drain = await caller.calls(100)
        assert draining.process.poll() is None, "the drain ended before the check: raise the delay"
        assert _direct_call_works(draining, caller.user_id)
        assert await logged(replicas, during_drain) == {staying.port: 100}

        looped = await load
    assert draining.process.wait(1) == 0
    assert caller.failures == []
    assert looped > 200  # the loop really ran, through the drain and past the exit


async def _call_until_exited(caller: Caller, replica: ServiceProcess) -> int:
    """Four concurrent callers until the replica's process is gone, bounded in calls and time.

    Returns how many calls they made.
    """
    assert replica.process is not None
    process = replica.process
    deadline = time.monotonic() + MAX_SECONDS
    made = 0

    async def worker() -> None:
        nonlocal made
        while process.poll() is None and time.monotonic() < deadline and made < MAX_CALLS:
            made += 1
            await caller.call()
        made += len(await caller.calls(20))  # and some after it exited

    await asyncio.gather(*(worker() for _ in range(4)))
    assert process.poll() is not None, "the replica did not exit within the bound"
    return made


async def _wait_for_log(replica: ServiceProcess, text: str) -> None:
    async with asyncio.timeout(10):
        while text not in replica.log():
            await asyncio.sleep(0.02)


async def _settle_on(caller: Caller, replicas: list[ServiceProcess], only: ServiceProcess) -> None:
    """The health update is on its way: wait, bounded, until a batch lands on `only`."""
    async with asyncio.timeout(10):
        while set(await logged(replicas, await caller.calls(10))) != {only.port}:
            pass


def _direct_call_works(replica: ServiceProcess, user_id: str) -> bool:
    with mesh_tls.channel(replica.address) as channel:
        reply = v1_grpc.UserServiceStub(channel).GetUser(
            v1.GetUserRequest(user_id=user_id), timeout=5
        )
    return reply.user.user_id == user_id
