"""A user service replica run as two server processes on one port (`<PREFIX>WORKERS=2`).

The real service over the real PostgreSQL: both processes answer calls on the
shared port (seen in the replica's merged /metrics, one `process` label per
server process), SIGTERM to the replica drains both, a killed server process
takes the whole replica down so its supervisor restarts it whole, and a
second server on the same port still fails loudly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from shop.user.v1 import user_pb2, user_pb2_grpc

from protomesh.paths import ROOT
from protomesh.tls.client import channel_credentials
from protomesh_toolkit.bench.processes import listening
from tests.support import mesh_tls
from tests.support.grpc_calls import health_async
from tests.support.ports import free_port
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

pytestmark = pytest.mark.integration
CHANNELS = 16  # new connections the kernel spreads over the two processes (all on one: 2^-15)
SHUTDOWN_DELAY = 1.5


@pytest.fixture
def replica(postgres: Postgres, tmp_path: Path) -> Iterator[ServiceProcess]:
    running = user_service(
        postgres,
        tmp_path,
        workers="2",
        metrics_port=str(free_port()),
        shutdown_delay=str(SHUTDOWN_DELAY),
    )
    running.start()  # SERVING as soon as one server process is
    deadline = time.monotonic() + 30
    while len(listening_now(running)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    yield running
    running.kill()


def server_processes(replica: ServiceProcess) -> list[int]:
    """The pids whose parent is the replica's process."""
    assert replica.process is not None
    parent = replica.process.pid
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent_of(entry) == parent and _alive(int(entry.name)):
            children.append(int(entry.name))
    return sorted(children)


def listening_now(replica: ServiceProcess) -> list[int]:
    return listening(server_processes(replica), replica.port)


def _parent_of(entry: Path) -> int | None:
    try:
        return int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Gone, or a zombie nobody reaped (PID 1 here does not reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def separate_channels(address: str) -> list[grpc.aio.Channel]:
    """Channels that do not share one connection (grpc pools subchannels process-wide)."""
    credentials = channel_credentials(mesh_tls.files("operator"))
    options = [("grpc.use_local_subchannel_pool", 1)]
    return [grpc.aio.secure_channel(address, credentials, options) for _ in range(CHANNELS)]


def requests_by_process(replica: ServiceProcess) -> dict[str, float]:
    port = replica.env["USER_SERVICE_METRICS_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    counted: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "rpc_server_requests_total" and "UserService" in sample.labels.get(
                "method", ""
            ):
                process = sample.labels["process"]
                counted[process] = counted.get(process, 0.0) + sample.value
    return counted


async def test_both_server_processes_answer_on_the_one_port(replica: ServiceProcess) -> None:
    assert len(listening_now(replica)) == 2
    channels = separate_channels(replica.address)
    try:
        created = await user_pb2_grpc.UserServiceStub(channels[0]).CreateUser(
            user_pb2.CreateUserRequest(email="two@example.com", display_name="Two Procs"),
            timeout=10,
        )
        replies = await asyncio.gather(
            *(
                user_pb2_grpc.UserServiceStub(channel).GetUser(
                    user_pb2.GetUserRequest(user_id=created.user.user_id), timeout=10
                )
                for channel in channels
            )
        )
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))
    assert {reply.user.email for reply in replies} == {"two@example.com"}
    counted = requests_by_process(replica)
    assert set(counted) == {"0", "1"}, counted
    assert sum(counted.values()) == CHANNELS + 1


async def test_sigterm_drains_every_server_process(replica: ServiceProcess) -> None:
    assert replica.process is not None
    children = server_processes(replica)
    channels = separate_channels(replica.address)
    try:
        for channel in channels:  # connect each before the signal
            assert await health_async(channel) == "SERVING"
        replica.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(SHUTDOWN_DELAY / 3)
        # Within the shutdown delay every process still answers, and says NOT_SERVING.
        answers = await asyncio.gather(*(health_async(channel) for channel in channels))
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))
    assert set(answers) == {"NOT_SERVING"}
    assert replica.process.wait(timeout=30) == 0
    assert not [pid for pid in children if _alive(pid)]
    assert replica.log().count('"message": "user stopped"') == 2


def test_a_killed_server_process_takes_the_replica_down_whole(replica: ServiceProcess) -> None:
    assert replica.process is not None
    victim, survivor = server_processes(replica)
    os.kill(victim, signal.SIGKILL)
    code = replica.process.wait(timeout=30)
    assert code != 0
    assert not _alive(survivor)
    assert "stopping the replica" in replica.log()
    assert '"message": "user stopped"' in replica.log()  # the survivor drained, not killed


def test_another_server_on_the_shared_port_fails_loudly(
    replica: ServiceProcess, tmp_path: Path
) -> None:
    for workers in ("1", "2"):
        env = {**replica.env, "USER_SERVICE_WORKERS": workers}
        env.pop("USER_SERVICE_METRICS_PORT")
        intruder = subprocess.run(
            [sys.executable, "-m", "services.user"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert intruder.returncode != 0, workers
        assert "cannot listen on" in intruder.stderr, intruder.stderr[-2000:]
    assert replica.health() == "SERVING"
    time.sleep(0.2)
    assert len(server_processes(replica)) == 2


def test_a_parent_killed_outright_takes_its_server_processes_with_it(
    replica: ServiceProcess,
) -> None:
    """SIGKILL leaves the parent no chance to stop them: the kernel tells them instead."""
    assert replica.process is not None
    children = server_processes(replica)
    replica.process.send_signal(signal.SIGKILL)
    replica.process.wait(timeout=10)
    deadline = time.monotonic() + 30
    while [pid for pid in children if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)]


def test_the_parent_is_light_it_loads_neither_grpc_nor_the_service(
    replica: ServiceProcess,
) -> None:
    assert replica.process is not None
    parent = replica.process.pid
    command = Path(f"/proc/{parent}/cmdline").read_bytes().split(b"\0")
    assert command[1:3] == [b"-m", b"protomesh.process_family"]
    assert "cygrpc" not in Path(f"/proc/{parent}/maps").read_text()
    (child, *_) = server_processes(replica)
    assert "cygrpc" in Path(f"/proc/{child}/maps").read_text()  # what the check looks for
