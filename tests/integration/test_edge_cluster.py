"""The edge in the local cluster: `protomesh up` starts Envoy last, prints how to call
it, and the printed REST, token and grpcurl commands work as pasted."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from protomesh.paths import ROOT
from protomesh.registry import DEFAULT_MESH_FILE
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

PROTOMESH = Path(sysconfig.get_path("scripts")) / "protomesh"


@dataclass
class Cluster:
    run_dir: Path
    mesh_file: Path
    edge_port: int

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "PROTOMESH_RUN_DIR": str(self.run_dir),
            "PROTOMESH_MESH_FILE": str(self.mesh_file),
        }
        result = subprocess.run(
            [str(PROTOMESH), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        return result

    def pids(self) -> dict[str, int]:
        state = self.run_dir / "cluster.json"
        if not state.exists():
            return {}
        return {c["name"]: c["pid"] for c in json.loads(state.read_text())["components"]}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """The project's mesh.yaml, local only, on free ports."""
    document: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    document["environments"] = ["local"]
    document.pop("telemetry", None)  # its endpoints name the compose environment
    document["infrastructure"]["postgres"]["port"] = {"local": free_port()}
    for service in document["services"].values():
        service["port"] = {"local": free_port()}
        service.pop("metrics_port", None)
    edge_port = free_port()
    document["edge"]["port"] = {"local": edge_port}
    document["edge"]["admin_port"] = {"local": free_port()}
    mesh_file = tmp_path / "mesh.yaml"
    mesh_file.write_text(yaml.safe_dump(document))
    cluster = Cluster(tmp_path / "run", mesh_file, edge_port)
    try:
        yield cluster
    finally:
        pids = cluster.pids()
        subprocess.run(
            [str(PROTOMESH), "down"],
            env={
                **os.environ,
                "PROTOMESH_RUN_DIR": str(cluster.run_dir),
                "PROTOMESH_MESH_FILE": str(mesh_file),
            },
            cwd=ROOT,
            capture_output=True,
            timeout=90,
            check=False,
        )
        for pid in pids.values():  # only if `down` failed to
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def json_documents(text: str) -> list[Any]:
    """curl prints JSON documents back to back, grpcurl with newlines: split either."""
    decoder, documents, position = json.JSONDecoder(), [], 0
    while (position := len(text) - len(text[position:].lstrip())) < len(text):
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
    return documents


def edge_commands(up_output: str) -> str:
    """The commands printed for the edge, as a user would paste them."""
    block = up_output.split("# REST through the Envoy edge", 1)[1].split("\n\n", 1)[0]
    return "\n".join(line.strip() for line in block.splitlines()[1:])


def test_up_starts_the_edge_last_and_its_printed_commands_work(cluster: Cluster) -> None:
    up = cluster.cli("up")
    started = [line.split()[0] for line in up.stdout.splitlines() if "starting ..." in line]
    assert started[-1] == "edge"
    assert f"REST  http://127.0.0.1:{cluster.edge_port}" in up.stdout
    assert f"gRPC  127.0.0.1:{cluster.edge_port}" in up.stdout

    status = json.loads(cluster.cli("status", "--json").stdout)
    edge = next(c for c in status["components"] if c["name"] == "edge")
    assert edge["state"] == "healthy"
    assert edge["detail"] == "LIVE; 1 upstream(s) healthy"

    tried = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", edge_commands(up.stdout)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert tried.returncode == 0, tried.stdout + tried.stderr
    outputs = json_documents(tried.stdout)
    got_v1, listed_v2, updated_v2, listed_grpc = outputs
    user_id = got_v1["user"]["user_id"]
    assert user_id in [u["user_id"] for u in listed_v2["users"]]
    assert updated_v2["user"]["name"] == {"given_name": "Grace", "family_name": "Hopper"}
    assert listed_grpc["users"]


def test_the_issuer_key_stays_secret_and_token_needs_it(cluster: Cluster) -> None:
    cluster.cli("up")
    key = cluster.run_dir / "secrets" / "jwt_issuer.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    jwks = json.loads((cluster.run_dir / "envoy" / "jwks.json").read_text())
    assert "d" not in jwks["keys"][0]
    token = cluster.cli("token", "--sub", "alice", "--ttl", "60").stdout.strip()
    assert token.count(".") == 2
    edge_pid = cluster.pids()["edge"]
    cluster.cli("down")
    assert (
        not Path(f"/proc/{edge_pid}").exists()
        or "Z" in Path(f"/proc/{edge_pid}/stat").read_text().split(")")[1][:3]
    )
