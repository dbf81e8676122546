"""A real Envoy on free loopback ports, configured by the real renderer from a test registry.

mesh = edge_mesh(user_ports=[service.port])
with running_envoy(mesh, tmp_path) as edge:
    reply = edge.request("GET", "/v1/users/...")
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.config import EdgeFiles, as_yaml, render
from gateway.descriptors import write_edge_descriptor_set
from gateway.dev_issuer import DevIssuer
from gateway.openapi.pages import write_pages
from gateway.upstream_tls import write_secret_documents
from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import DEFAULT_MESH_FILE, Mesh, RpcCatalogue, parse_mesh
from protomesh_toolkit.cluster import envoy_admin as admin
from tests.support import mesh_tls
from tests.support.ports import free_port, relocate_infrastructure

ENVIRONMENT = "local"
STOP_TIMEOUT = 10.0


def edge_mesh(
    user_ports: list[int],
    change: Callable[[dict[str, Any]], None] | None = None,
    *,
    order_ports: list[int] | None = None,
    reporting_ports: list[int] | None = None,
    bff_ports: list[int] | None = None,
) -> Mesh:
    """The project's registry with the user service on `user_ports` and the edge on free ports.

    The order, reporting and web BFF services (on `order_ports`,
    `reporting_ports`, `bff_ports`) are left out, routes and all, unless ports
    are given: the edge would wait for their health otherwise.
    `change` edits the YAML document first (a route policy, a CORS origin...).
    """
    document: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    document["environments"] = [ENVIRONMENT]
    relocate_infrastructure(document, ENVIRONMENT)
    document.pop("telemetry", None)  # its endpoints name other environments; tests add their own
    given = {
        "user": user_ports,
        "order": order_ports,
        "reporting": reporting_ports,
        "bff": bff_ports,
    }
    for name, ports in given.items():
        if ports is None:
            _leave_out(document, name)
    for name, service in document["services"].items():
        ports = given.get(name) or [free_port()]
        service.pop("port", None)
        service.pop("metrics_port", None)  # replicas would each need their own
        service["replicas"] = [{"port": {ENVIRONMENT: port}} for port in ports]
    edge = document["edge"]
    edge["port"], edge["admin_port"] = {ENVIRONMENT: free_port()}, {ENVIRONMENT: free_port()}
    if change is not None:
        change(document)
    return parse_mesh(yaml.safe_dump(document), "test mesh", RpcCatalogue.load(DESCRIPTOR_SET))


def _leave_out(document: dict[str, Any], name: str) -> None:
    """Drop a service, its edge routes, its change capture and what depends on it being listed.

    It keeps its certificate identity: other services' `callers` may name it.
    Nobody here consumes its events any more (the registry refuses a consumer
    of a type no service produces).
    """
    dropped = document["services"].pop(name)
    served, produced = dropped.get("serves", []), dropped.get("produces", [])
    document["identities"] = [*document.get("identities", []), name]
    routes = document["edge"]["routes"]
    for key in [k for k in routes if k.split("/", 1)[0] in served]:
        del routes[key]
    for service in document["services"].values():
        if name in service.get("depends_on", []):
            service["depends_on"].remove(name)
        if "consumes" in service:
            service["consumes"] = [t for t in service["consumes"] if t not in produced]
    document.get("cdc", {}).pop(name, None)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Envoy:
    mesh: Mesh
    directory: Path
    issuer: DevIssuer
    certs: Path  # where the mesh's certificates are published (the edge's among them)
    process: subprocess.Popen[bytes] | None = None
    config_file: Path = field(init=False)
    log_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.config_file = self.directory / "envoy.yaml"
        self.log_file = self.directory / "envoy.log"

    @property
    def edge(self) -> Any:
        assert self.mesh.edge is not None
        return self.mesh.edge

    @property
    def port(self) -> int:
        return int(self.edge.ports[ENVIRONMENT])

    @property
    def admin_port(self) -> int:
        return int(self.edge.admin_ports[ENVIRONMENT])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def render(self) -> Path:
        jwks = self.directory / "jwks.json"
        self.issuer.ensure_key()
        self.issuer.write_jwks(jwks)
        descriptor = self.directory / "edge.binpb"
        write_edge_descriptor_set(DESCRIPTOR_SET, descriptor)
        catalogue = RpcCatalogue.load(DESCRIPTOR_SET)
        sds = self.directory / "sds"
        write_secret_documents(sds, str(self.certs))
        pages = self.directory / "pages"
        write_pages(pages, self.mesh)
        files = EdgeFiles(str(descriptor), str(jwks), str(self.certs), str(sds), str(pages))
        config = render(self.mesh, ENVIRONMENT, catalogue, files)
        self.config_file.write_text(as_yaml(config, ENVIRONMENT))
        return self.config_file

    def start(self, timeout: float = 20.0) -> None:
        self.render()
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                admin.envoy_command(self.config_file),
                cwd=self.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"envoy exited {self.process.returncode}:\n{self.log()[-3000:]}")
            with contextlib.suppress(OSError):
                if admin.readiness(self.admin_port) == "LIVE":
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"envoy not LIVE after {timeout}s:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def wait_upstreams_healthy(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while (health := admin.upstream_health(self.admin_port)) and any(
            flags != "healthy" for flags in health.values()
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"upstreams not healthy after {timeout}s: {health}")
            time.sleep(0.05)

    def token(self, subject: str, **options: Any) -> str:
        jwt = self.edge.jwt
        options.setdefault("issuer", jwt.issuer)
        options.setdefault("audience", jwt.audiences[0])
        return self.issuer.token(subject, **options)

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        headers: dict[str, str] | None = None,
        *,
        raw: bytes | None = None,
        timeout: float = 30.0,
    ) -> Reply:
        """One HTTP/1.1 call, as curl would make it; JSON bodies unless `raw` is given."""
        sent = {"content-type": "application/json", **(headers or {})}
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            payload = response.read()
            received = {name.lower(): value for name, value in response.getheaders()}
            return Reply(response.status, received, payload)
        finally:
            connection.close()

    def stats(self, prefix: str = "") -> dict[str, int]:
        return admin.stats(self.admin_port, prefix)

    def log(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""

    def wait_for_access_log(self, request_id: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The access log entries of one request (written just after the reply)."""
        deadline = time.monotonic() + timeout
        while not (found := [e for e in self.access_log() if e["request_id"] == request_id]):
            if time.monotonic() > deadline:
                raise AssertionError(f"no access log entry for {request_id}")
            time.sleep(0.02)
        return found

    def access_log(self) -> list[dict[str, Any]]:
        """The access log's lines (Envoy's own log lines carry a `logger` key instead)."""
        entries = []
        for line in self.log().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and "request_id" in entry:
                    entries.append(entry)
        return entries


@contextlib.contextmanager
def running_envoy(mesh: Mesh, directory: Path, certs: Path | None = None) -> Iterator[Envoy]:
    """Envoy over mTLS to its upstreams, with the session's certificates unless `certs`."""
    issuer = DevIssuer(directory / "secrets" / "jwt_issuer.pem")
    envoy = Envoy(mesh, directory, issuer, certs or mesh_tls.directory())
    try:
        envoy.start()
        yield envoy
    finally:
        envoy.stop()
