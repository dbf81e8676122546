"""The edge in the local cluster: `protomesh up` starts Envoy last, prints how to call
it, and the printed REST, token and grpcurl commands work as pasted."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from protomesh.paths import ROOT
from protomesh.registry import DEFAULT_MESH_FILE
from protomesh_toolkit.codegen import tool
from tests.support.cluster_cli import run_protomesh
from tests.support.ports import free_port, relocate_infrastructure

pytestmark = pytest.mark.integration


@dataclass
class Cluster:
    run_dir: Path
    mesh_file: Path
    edge_port: int

    def cli(self, *args: str, insecure: bool = False) -> subprocess.CompletedProcess[str]:
        extra = {"PROTOMESH_INSECURE": "1"} if insecure else None
        result = run_protomesh(self.run_dir, self.mesh_file, *args, extra=extra)
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        return result

    def logs(self) -> list[Path]:
        return sorted((self.run_dir / "logs").glob("*.log"))

    def service_port(self, name: str) -> int:
        document = yaml.safe_load(self.mesh_file.read_text())
        return int(document["services"][name]["port"]["local"])

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
    relocate_infrastructure(document)
    document.pop("telemetry", None)  # its endpoints name the compose environment
    for service in document["services"].values():
        service.pop("replicas", None)
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
        run_protomesh(cluster.run_dir, mesh_file, "down")
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
    docs = f"http://127.0.0.1:{cluster.edge_port}/docs"
    assert docs in up.stdout
    for url, kind in ((docs, "text/html"), (f"{docs[:-5]}/openapi.json", "application/json")):
        with urllib.request.urlopen(url, timeout=10) as page:  # the cluster wrote the pages
            assert (page.status, page.headers["content-type"].split(";")[0]) == (200, kind)

    status = json.loads(cluster.cli("status", "--json").stdout)
    edge = next(c for c in status["components"] if c["name"] == "edge")
    assert edge["state"] == "healthy"
    services = yaml.safe_load(cluster.mesh_file.read_text())["services"]
    assert edge["detail"] == f"LIVE; {len(services)} upstream(s) healthy"  # user and order

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
    got_v1, listed_v2, updated_v2, placed, listed_orders, dashboard, listed_grpc, sent, verified = (
        outputs
    )
    user_id = got_v1["user"]["user_id"]
    assert user_id in [u["user_id"] for u in listed_v2["users"]]
    assert updated_v2["user"]["name"] == {"given_name": "Grace", "family_name": "Hopper"}
    # an order placed over REST with the user's token and an idempotency key, then listed
    assert placed["order"]["customer_id"] == user_id
    assert placed["order"]["status"] == "ORDER_STATUS_PENDING"
    assert [o["order_id"] for o in listed_orders["orders"]] == [placed["order"]["order_id"]]
    # the web BFF's dashboard for the token's subject: profile and orders in one call
    assert dashboard["profile"]["user_id"] == user_id
    assert [o["order_id"] for o in dashboard["recent_orders"]] == [placed["order"]["order_id"]]
    assert dashboard["order_count"] == 1
    assert listed_grpc["users"]
    # the email verified with the code `protomesh mail` read from the cluster's mail sink
    assert sent == {"email": got_v1["user"]["email"], "expires_in": "600s"}
    assert verified["user"]["email_verification"] == "EMAIL_VERIFICATION_VERIFIED"


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


def secret_material(run_dir: Path) -> dict[str, str]:
    """Every secret the cluster holds, as strings a leak would show: the body lines of each
    private key (the CA's, every leaf's, the JWT issuer's) and every password file."""
    found: dict[str, str] = {}
    keys = [*run_dir.glob("certs/..data/*.key"), run_dir / "certs" / "ca.key"]
    keys.append(run_dir / "secrets" / "jwt_issuer.pem")
    for key in keys:
        body = [line for line in key.read_text().splitlines() if not line.startswith("-----")]
        found |= {f"{key.name} line {n}": line for n, line in enumerate(body) if len(line) > 16}
    for password in (run_dir / "secrets").glob("*password"):
        found[password.name] = password.read_text().strip()
    return found


def test_no_log_holds_a_private_key_or_a_password(cluster: Cluster) -> None:
    """Run everything, call it every way the printed commands do (and be refused once),
    then search every log and every printed line for each secret the cluster holds."""
    up = cluster.cli("up")
    commands = up.stdout.split("Try it:\n", 1)[1].split("\n\nIt keeps running", 1)[0]
    tried = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert tried.returncode == 0, tried.stdout + tried.stderr
    no_certificate = subprocess.run(
        [
            *(tool("grpcurl"), "-cacert", str(cluster.run_dir / "certs" / "ca.crt")),
            *(f"127.0.0.1:{cluster.service_port('user')}", "list"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert no_certificate.returncode != 0
    status = cluster.cli("status")
    cluster.cli("down")  # every process has flushed its log

    secrets = secret_material(cluster.run_dir)
    assert {"postgres_admin_password", "ca.key line 0", "user.key line 0"} <= set(secrets)
    printed = [up.stdout, up.stderr, tried.stdout, tried.stderr, status.stdout]
    logs = {path.name: path.read_text(errors="replace") for path in cluster.logs()}
    assert {"user.log", "edge.log", "postgres.log"} <= set(logs)
    for where, text in [*logs.items(), *enumerate(printed)]:
        leaked = [name for name, secret in secrets.items() if secret in text]
        assert leaked == [], f"{where} shows {leaked}"


def test_the_insecure_switch_turns_tls_off_for_the_whole_mesh_and_says_so(
    cluster: Cluster,
) -> None:
    up = cluster.cli("up", insecure=True)
    assert "PROTOMESH_INSECURE=1: mTLS is OFF" in up.stdout
    assert not (cluster.run_dir / "certs").exists()  # nothing issued, nothing half-on
    status = json.loads(cluster.cli("status", "--json", insecure=True).stdout)
    assert {c["name"]: c["state"] for c in status["components"]} == {
        "postgres": "healthy",
        "nats": "healthy",
        "payments": "healthy",
        "user": "healthy",
        "smtp": "healthy",
        "order": "healthy",
        "reporting": "healthy",
        "order-cdc": "healthy",  # change capture: it has read its slot
        "bff": "healthy",
        "edge": "healthy",
    }
    worker = next(c for c in status["components"] if c["name"] == "order-cdc")
    assert worker["detail"].startswith("capturing; slot lag ")
    assert re.search(r"order-cdc +change capture of orders from the WAL → ORDER_CHANGES", up.stdout)
    assert "transport_socket" not in (cluster.run_dir / "envoy" / "envoy.yaml").read_text()
    for service in ("user", "order", "reporting", "bff"):
        assert "mTLS is OFF" in (cluster.run_dir / "logs" / f"{service}.log").read_text()
    commands = up.stdout.split("Try it:\n", 1)[1].split("\n\nIt keeps running", 1)[0]
    assert "-plaintext" in commands
    assert "orders need a signed-in user or a mesh identity" in commands  # none in plaintext
    tried = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands],
        cwd=ROOT,
        env={**os.environ, "PROTOMESH_INSECURE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert tried.returncode == 0, tried.stdout + tried.stderr
