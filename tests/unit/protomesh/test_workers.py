"""Workers run beside the RPCs: started after the server, stopped after it drains."""

from __future__ import annotations

import os

import grpc
import pytest

from protomesh.process_role import ROLE_ENV
from protomesh.server import GrpcService, ServiceDefinition
from protomesh.settings import ServerSettings
from tests.support import mesh_tls
from tests.support.grpc_calls import health_async
from tests.support.policies import project_policies

# These tests serve real gRPC in process, over mTLS with the session CA.
pytestmark = pytest.mark.usefixtures("mesh_certificates")


class RecordingWorker:
    """Records the lifecycle, and whether the server answered at each step."""

    def __init__(self, name: str, events: list[str]) -> None:
        self.name = name
        self.events = events
        self.service: GrpcService | None = None

    async def _server_answers(self) -> bool:
        assert self.service is not None
        async with mesh_tls.aio_channel(f"127.0.0.1:{self.service.port}") as channel:
            try:
                await health_async(channel)
            except grpc.aio.AioRpcError:
                return False
            return True

    async def start(self) -> None:
        answers = await self._server_answers()
        self.events.append(f"start {self.name} (server answering: {answers})")

    async def stop(self) -> None:
        answers = await self._server_answers()
        self.events.append(f"stop {self.name} (server answering: {answers})")


class FailingWorker(RecordingWorker):
    async def stop(self) -> None:
        await super().stop()
        raise RuntimeError("worker broke while stopping")


async def test_workers_start_after_the_server_and_stop_before_the_closers() -> None:
    events: list[str] = []
    workers = [RecordingWorker("relay", events), FailingWorker("consumer", events)]

    async def close_pool() -> None:
        events.append("close pool")

    definition = ServiceDefinition(
        name="worker-test",
        policies=project_policies("worker-test"),
        registrations=[],
        workers=workers,
        closers=[close_pool],
    )
    settings = mesh_tls.with_identity(ServerSettings(port=0, grace_period=1))
    service = GrpcService(definition, settings)
    for worker in workers:
        worker.service = service
    await service.start()
    await service.stop()

    assert events == [
        "start relay (server answering: True)",
        "start consumer (server answering: True)",
        # reverse order, after the server stopped taking calls; a failing
        # worker does not keep the others or the closers from running
        "stop consumer (server answering: False)",
        "stop relay (server answering: False)",
        "close pool",
    ]


@pytest.mark.parametrize(("index", "started"), [(0, ["cache", "relay"]), (1, ["cache"])])
async def test_a_server_process_runs_its_own_workers_and_process_0_the_replica_s(
    monkeypatch: pytest.MonkeyPatch, index: int, started: list[str]
) -> None:
    """With several server processes, a relay runs once per replica, a cache's invalidation
    once per process (each holds its own cache)."""
    monkeypatch.setenv(ROLE_ENV, f"{index}/2/{os.getppid()}")
    events: list[str] = []
    relay, cache = RecordingWorker("relay", events), RecordingWorker("cache", events)
    definition = ServiceDefinition(
        name="worker-test",
        policies=project_policies("worker-test"),
        registrations=[],
        workers=[relay],
        process_workers=[cache],
    )
    service = GrpcService(definition, mesh_tls.with_identity(ServerSettings(port=0)))
    relay.service = cache.service = service
    await service.start()
    await service.stop()

    assert [event.split()[1] for event in events if event.startswith("start")] == started
