"""The local cluster runs NATS JetStream too, and a service that depends on it is wired to it.

`protomesh up` on a mesh with `infrastructure.nats`: nats-server starts before
the services, `status` reports it healthy, and the user service gets its
`USER_SERVICE_NATS_URL`, so a registration reaches the USER_EVENTS stream
through the service's outbox relay.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
import yaml
from nats.js.errors import NotFoundError
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from protomesh.bus.connection import connect_nats
from protomesh.tls.client import channel_credentials, server_name_options
from protomesh.tls.files import TlsFiles
from services.user.streams import USER_EVENTS
from tests.integration.test_cluster_cli import is_alive
from tests.support.cluster_cli import run_protomesh
from tests.support.outbox import eventually
from tests.support.ports import free_port

pytestmark = pytest.mark.integration


@dataclass
class NatsCluster:
    run_dir: Path
    mesh_file: Path
    nats_port: int
    user_port: int
    pids: set[int] = field(default_factory=set)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = run_protomesh(self.run_dir, self.mesh_file, *args, timeout=60)
        state = self.run_dir / "cluster.json"
        if state.exists():
            self.pids |= {c["pid"] for c in json.loads(state.read_text())["components"]}
        return result


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    postgres_port, nats_port, user_port = free_port(), free_port(), free_port()
    mesh = {
        "trust_domain": "protomesh.test",
        "identities": ["operator"],
        "environments": ["local"],
        "infrastructure": {
            "postgres": {"port": {"local": postgres_port}},
            "nats": {"port": {"local": nats_port}, "monitor_port": {"local": free_port()}},
        },
        "services": {
            "user": {
                "module": "services.user",
                "env_prefix": "USER_SERVICE_",
                "port": {"local": user_port},
                "database": {"schema": "users", "role": "user_svc"},
                "serves": ["shop.user.v1.UserService", "shop.user.v2.UserService"],
                "depends_on": ["postgres", "nats"],
                "produces": [
                    "shop.user.events.v1.UserRegistered",
                    "shop.user.events.v1.UserProfileChanged",
                ],
                "callers": {"shop.user.v1.UserService/*": ["operator"]},
            }
        },
    }
    mesh_file = tmp_path / "mesh.yaml"
    mesh_file.write_text(yaml.safe_dump(mesh))
    running = NatsCluster(tmp_path / "run", mesh_file, nats_port, user_port)
    yield running
    running.cli("down")
    for pid in running.pids:  # only if `down` failed
        if is_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


async def test_up_runs_nats_and_the_user_service_publishes_through_it(
    cluster: NatsCluster,
) -> None:
    up = cluster.cli("up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"tls://127.0.0.1:{cluster.nats_port}" in up.stdout  # mutual TLS only
    status = json.loads(cluster.cli("status", "--json").stdout)
    states = {c["name"]: c["state"] for c in status["components"]}
    assert states == {"postgres": "healthy", "nats": "healthy", "user": "healthy"}

    # The cluster's own CA issued the operator's certificate at `up`.
    operator = channel_credentials(TlsFiles.of(cluster.run_dir / "certs", "operator"))
    address = f"127.0.0.1:{cluster.user_port}"
    async with grpc.aio.secure_channel(address, operator, server_name_options("user")) as channel:
        created = await v1_grpc.UserServiceStub(channel).CreateUser(
            v1.CreateUserRequest(email="cluster@nats.example", display_name="C"), timeout=10
        )
    client = await connect_nats(
        f"tls://127.0.0.1:{cluster.nats_port}",
        name="test",
        tls=TlsFiles.of(cluster.run_dir / "certs", "operator"),
        max_reconnect_attempts=3,
    )
    try:
        js = client.jetstream()

        async def published() -> bool:
            try:
                message = await js.get_last_msg(USER_EVENTS.name, "user.events.v1.UserRegistered")
            except NotFoundError:  # the stream or the message is not there yet
                return False
            return (message.headers or {}).get("aggregate-id") == created.user.user_id

        await eventually(published, message="UserRegistered in USER_EVENTS")
    finally:
        await client.close()
