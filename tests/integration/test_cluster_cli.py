"""The local cluster as a user meets it: `protomesh up`, status, the printed grpcurl
commands, down, up again, and the failures a user will hit first.

Each test runs the installed `protomesh` command against a cluster of its own
(a temporary run directory and mesh file on free ports), so it never touches
a developer's `make up`. Whether processes are gone is checked here, from /proc,
not with the code under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from nats.aio.client import Client as NatsClient

from protomesh.bus.connection import connect_nats
from protomesh.paths import ROOT
from protomesh.tls.files import TlsFiles
from protomesh_toolkit.codegen import tool
from tests.support.cluster_cli import PROTOMESH, cli_environment, run_protomesh
from tests.support.mesh_cluster import wait_until
from tests.support.ports import free_port

pytestmark = pytest.mark.integration


def is_alive(pid: int) -> bool:
    """Running and not a zombie (exited children of pid 1 may never be reaped here)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except FileNotFoundError:
            continue
        if stat and int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (PostgreSQL's names its data dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
        except (FileNotFoundError, ProcessLookupError):
            continue
        if text.encode() in command and is_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@dataclass
class Cluster:
    run_dir: Path
    mesh_file: Path
    postgres_port: int
    user_port: int
    nats_port: int
    nats_monitor_port: int
    seen_pids: set[int] = field(default_factory=set)

    def cli(self, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        result = run_protomesh(self.run_dir, self.mesh_file, *args, timeout=60)
        if expect is not None:
            assert result.returncode == expect, f"{args}: {result.stdout}\n{result.stderr}"
        self.pids()
        return result

    def pids(self) -> dict[str, int]:
        """The recorded pids, by component, remembered for the cleanup."""
        state_file = self.run_dir / "cluster.json"
        if not state_file.exists():
            return {}
        pids = {c["name"]: c["pid"] for c in json.loads(state_file.read_text())["components"]}
        self.seen_pids |= set(pids.values())
        return pids

    def status(self) -> dict[str, dict[str, Any]]:
        document = json.loads(self.cli("status", "--json", expect=None).stdout)
        return {component["name"]: component for component in document["components"]}


def mesh_document(ports: list[int]) -> dict[str, Any]:
    postgres_port, user_port, nats_port, nats_monitor_port = ports
    return {
        "trust_domain": "protomesh.test",
        "environments": ["local"],
        "identities": ["operator"],
        "infrastructure": {
            "postgres": {"port": {"local": postgres_port}},
            "nats": {"port": {"local": nats_port}, "monitor_port": {"local": nats_monitor_port}},
        },
        "services": {
            "user": {
                "module": "services.user",
                "env_prefix": "USER_SERVICE_",
                "port": {"local": user_port},
                "database": {"schema": "users", "role": "user_svc"},
                "serves": ["shop.user.v1.UserService", "shop.user.v2.UserService"],
                "depends_on": ["postgres"],
                # Its outbox takes only the event types declared here.
                "produces": [
                    "shop.user.events.v1.UserRegistered",
                    "shop.user.events.v1.UserProfileChanged",
                ],
                # The printed grpcurl commands call as the operator; anyone else is denied.
                "callers": {
                    "shop.user.v1.UserService/*": ["operator"],
                    "shop.user.v2.UserService/*": ["operator"],
                },
            }
        },
    }


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    ports: set[int] = set()
    while len(ports) < 4:
        ports.add(free_port())
    chosen = sorted(ports)
    mesh_file = tmp_path / "mesh.yaml"
    mesh_file.write_text(yaml.safe_dump(mesh_document(chosen)))
    postgres, user, nats_port, monitor = chosen
    cluster = Cluster(tmp_path / "run", mesh_file, postgres, user, nats_port, monitor)
    yield cluster
    cluster.cli("down", expect=None)
    for pid in cluster.seen_pids:  # only what this cluster recorded, and only if `down` failed
        if is_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def try_it_commands(up_output: str) -> list[str]:
    """The commands under "Try it:", as a user would paste them."""
    block = up_output.split("Try it:\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in block.splitlines() if not line.strip().startswith("#")]


def test_up_starts_everything_healthy_and_prints_commands_that_work(cluster: Cluster) -> None:
    up = cluster.cli("up")

    progress = [line.split()[0] for line in up.stdout.splitlines() if " starting ... " in line]
    assert progress == ["postgres", "nats", "user"]
    assert re.search(r"postgres +starting \.\.\. healthy on 127\.0\.0\.1:\d+ .* in \d", up.stdout)
    assert f"grpc 127.0.0.1:{cluster.user_port}" in up.stdout
    assert f"postgresql://postgres@127.0.0.1:{cluster.postgres_port}/postgres" in up.stdout
    assert f"tls://127.0.0.1:{cluster.nats_port}" in up.stdout
    assert f"monitor http://127.0.0.1:{cluster.nats_monitor_port}" in up.stdout
    status = cluster.status()
    assert {name: c["state"] for name, c in status.items()} == {
        "postgres": "healthy",
        "nats": "healthy",
        "user": "healthy",
    }
    assert status["nats"]["detail"] == "JetStream ok"
    assert status["nats"]["admin_port"] == cluster.nats_monitor_port
    assert status["user"]["pid"] == cluster.pids()["user"]

    commands = try_it_commands(up.stdout)
    certs = cluster.run_dir / "certs"
    assert commands[0] == (
        f".venv/bin/grpcurl -cacert {certs}/ca.crt -cert {certs}/operator.crt"
        f" -key {certs}/operator.key -servername user 127.0.0.1:{cluster.user_port} list"
    )
    tried = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(commands)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert tried.returncode == 0, tried.stderr
    printed_email = re.search(r'"email": "([^"]+)"', "\n".join(commands))
    assert printed_email is not None
    assert "shop.user.v2.UserService" in tried.stdout
    fetched = json.loads(tried.stdout[tried.stdout.index("{") :])
    assert fetched["user"]["email"] == printed_email.group(1)

    logs = cluster.cli("logs").stdout
    assert re.match(r"postgres +\| ", logs.splitlines()[0])  # padded to "supervisor"
    assert re.search(r"^supervisor \| .* supervising postgres, nats, user$", logs, re.MULTILINE)
    assert "user serving on" in cluster.cli("logs", "user").stdout
    assert_no_password_shows(cluster, up.stdout + up.stderr + logs)
    assert re.search(r"roles\s+provisioning \.\.\. 1 roles and schemas", up.stdout), up.stdout


def assert_no_password_shows(cluster: Cluster, output: str) -> None:
    """Passwords live in 0600 files; argv, environments, output and logs hold their paths."""
    files = list((cluster.run_dir / "secrets").iterdir())
    assert {f.name for f in files} == {"postgres_admin_password", "user_db_password"}
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    passwords = [f.read_text().encode() for f in files]
    for pid in cluster.pids().values():
        exposed = (
            Path(f"/proc/{pid}/cmdline").read_bytes() + Path(f"/proc/{pid}/environ").read_bytes()
        )
        assert not [password for password in passwords if password in exposed]
    assert not [password for password in passwords if password in output.encode()]
    # The admin password went to the provisioning step alone: a service is not even told
    # where its file is, so it holds only its own role's password.
    service_environment = Path(f"/proc/{cluster.pids()['user']}/environ").read_bytes()
    assert b"postgres_admin_password" not in service_environment
    assert b"ADMIN_DATABASE" not in service_environment
    assert b"user_db_password" in service_environment


def test_a_second_up_says_so_and_changes_nothing(cluster: Cluster) -> None:
    cluster.cli("up")
    before = cluster.pids()

    again = cluster.cli("up")

    assert "already running" in again.stdout
    assert cluster.pids() == before
    assert all(is_alive(pid) for pid in before.values())


def test_down_leaves_no_process_and_up_again_keeps_the_data(cluster: Cluster) -> None:
    cluster.cli("up")
    created = grpcurl(cluster, "CreateUser", {"email": "kept@example.com", "display_name": "K"})
    sequence = asyncio.run(publish_to_new_stream(cluster))
    pids = cluster.pids()
    family = {pid for root in pids.values() for pid in {root, *children_of(root)}}
    assert len(family) > len(pids)  # PostgreSQL's own processes are watched too

    down = cluster.cli("down")

    assert re.search(r"user +stopping \.\.\. stopped \(SIGTERM\)", down.stdout)
    stopped = [line.split()[0] for line in down.stdout.splitlines() if " stopping ... " in line]
    assert stopped == ["supervisor", "user", "nats", "postgres"]
    assert [pid for pid in family if is_alive(pid)] == []
    assert not (cluster.run_dir / "cluster.json").exists()
    cluster.cli("up")
    found = grpcurl(cluster, "GetUser", {"user_id": created["user"]["user_id"]})
    assert found["user"]["email"] == "kept@example.com"
    assert asyncio.run(last_sequence(cluster)) == sequence


STREAM, SUBJECT = "KEPT", "kept.events"


async def as_operator(cluster: Cluster) -> NatsClient:
    """NATS takes mutual TLS only: the operator's certificate (it may do anything)."""
    operator = TlsFiles.of(cluster.run_dir / "certs", "operator")
    url = f"tls://127.0.0.1:{cluster.nats_port}"
    return await connect_nats(url, name="test", tls=operator, max_reconnect_attempts=3)


async def publish_to_new_stream(cluster: Cluster) -> int:
    """A JetStream stream with one message on file storage; returns the message's sequence."""
    client = await as_operator(cluster)
    try:
        stream = client.jetstream()
        await stream.add_stream(name=STREAM, subjects=[SUBJECT])
        ack = await stream.publish(SUBJECT, b"survives a restart")
        return int(ack.seq)
    finally:
        await client.close()


async def last_sequence(cluster: Cluster) -> int:
    client = await as_operator(cluster)
    try:
        info = await client.jetstream().stream_info(STREAM)
        return int(info.state.last_seq)
    finally:
        await client.close()


def test_up_refuses_a_port_in_use_and_leaves_nothing_running(cluster: Cluster) -> None:
    with contextlib.ExitStack() as squatters:
        for port in (cluster.postgres_port, cluster.nats_monitor_port):
            squatter = squatters.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            squatter.bind(("127.0.0.1", port))
            squatter.listen()

        up = cluster.cli("up", expect=1)

    assert f"port {cluster.postgres_port} for postgres is in use (by pid {os.getpid()}" in up.stderr
    assert f"port {cluster.nats_monitor_port} for nats is in use" in up.stderr
    assert "Traceback" not in up.stderr
    assert cluster.pids() == {}
    assert cluster.status()["user"]["state"] == "stopped"
    assert processes_mentioning(str(cluster.run_dir)) == []


def test_the_supervisor_restarts_a_killed_component_and_status_says_why(
    cluster: Cluster,
) -> None:
    cluster.cli("up")
    before = cluster.pids()
    os.killpg(before["user"], signal.SIGKILL)

    assert wait_until(lambda: cluster.status()["user"]["state"] == "healthy", 30)
    status = cluster.status()
    assert status["user"]["pid"] != before["user"]
    assert status["user"]["restarts"] == 1
    assert status["user"]["last_exit"] == "killed by SIGKILL"
    assert status["postgres"]["pid"] == before["postgres"]
    assert status["postgres"]["restarts"] == 0
    table = cluster.cli("status").stdout
    assert re.search(r"user +healthy .* 1 +.*\(last exit: killed by SIGKILL\)", table)
    assert "Supervisor: pid" in table
    assert (
        "user killed by SIGKILL; restarting it"
        in (cluster.run_dir / "logs/supervisor.log").read_text()
    )


def test_down_stops_the_supervisor_first_so_nothing_comes_back(cluster: Cluster) -> None:
    cluster.cli("up")
    supervisor = json.loads((cluster.run_dir / "supervisor.json").read_text())["pid"]
    cluster.seen_pids.add(supervisor)
    assert is_alive(supervisor)

    down = cluster.cli("down")

    assert down.stdout.splitlines()[0].startswith("  supervisor  stopping ... stopped")
    assert not is_alive(supervisor)
    assert not (cluster.run_dir / "supervisor.json").exists()
    time.sleep(1)  # longer than the supervisor's poll: anything it restarted would show now
    assert processes_mentioning(str(cluster.run_dir)) == []


def test_up_restarts_what_exited_while_no_supervisor_ran(cluster: Cluster) -> None:
    cluster.cli("up")
    supervisor = json.loads((cluster.run_dir / "supervisor.json").read_text())["pid"]
    os.kill(supervisor, signal.SIGKILL)
    before = cluster.pids()
    os.killpg(before["nats"], signal.SIGKILL)

    assert cluster.status()["nats"]["state"] == "exited"
    restarted = cluster.cli("up")

    assert re.search(r"nats +had exited", restarted.stdout)
    after = cluster.pids()
    assert after["postgres"] == before["postgres"]
    assert after["nats"] != before["nats"]
    assert {c["state"] for c in cluster.status().values()} == {"healthy"}
    assert is_alive(json.loads((cluster.run_dir / "supervisor.json").read_text())["pid"])


def test_logs_follow_prints_lines_as_they_are_written(cluster: Cluster) -> None:
    cluster.cli("up")
    env = cli_environment(cluster.run_dir, cluster.mesh_file)
    command = [str(PROTOMESH), "logs", "user", "-f"]
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE) as follower:
        try:
            assert follower.stdout is not None
            output = follower.stdout.fileno()
            grpcurl(cluster, "CreateUser", {"email": "followed@example.com", "display_name": "F"})
            seen = b""
            deadline = time.monotonic() + 15
            while b"CreateUser" not in seen and time.monotonic() < deadline:
                if select.select([output], [], [], 0.2)[0]:
                    seen += os.read(output, 65536)
            assert b"rpc /shop.user.v1.UserService/CreateUser OK" in seen
            assert follower.poll() is None  # still following
        finally:
            follower.terminate()
            follower.wait(timeout=10)


def test_down_purge_deletes_the_run_directory(cluster: Cluster) -> None:
    cluster.cli("up")
    pids = cluster.pids()

    assert (cluster.run_dir / "nats" / "jetstream").is_dir()

    cluster.cli("down", "--purge")

    assert not cluster.run_dir.exists()
    assert [pid for pid in pids.values() if is_alive(pid)] == []


def grpcurl(cluster: Cluster, method: str, request: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [
            tool("grpcurl"),
            *("-cacert", str(cluster.run_dir / "certs" / "ca.crt")),
            *("-cert", str(cluster.run_dir / "certs" / "operator.crt")),
            *("-key", str(cluster.run_dir / "certs" / "operator.key")),
            "-d",
            json.dumps(request),
            f"127.0.0.1:{cluster.user_port}",
            f"shop.user.v1.UserService/{method}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    reply: dict[str, Any] = json.loads(result.stdout)
    return reply
