"""Pattern 17: mTLS + authN/Z, against the real user service, the real Envoy and grpcurl.

Proven here, each by a call that would succeed without the pattern:
- every hop is mutual TLS with certificates from the local CA: a client with
  no certificate, with one from another CA, or with an expired one is refused
  in the handshake (and the service's log says why); a plaintext client finds
  no plaintext port;
- per-RPC authorization by the caller's SPIFFE id: `order` may GetUser but
  not CreateUser; a valid mesh certificate whose name no `callers` list has
  gets PERMISSION_DENIED naming the caller and the method;
- the end-user JWT is checked at the edge and its subject passed on over
  the edge's mTLS hop, while the same header sent by any other caller is
  ignored;
- the edge pins the service's identity: an upstream with another service's
  certificate gets no traffic;
- grpcurl with the certificate, key and CA, exactly as the README shows, works.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from protomesh.paths import ROOT
from protomesh.registry import load_mesh
from protomesh.tls.client import server_name_options
from protomesh_toolkit.certs.authority import Identity, issue_leaf, new_root
from protomesh_toolkit.certs.store import CertStore
from protomesh_toolkit.codegen import tool
from tests.support import mesh_tls
from tests.support.edge_upstream import Probe, probe_upstream
from tests.support.envoy import Envoy, edge_mesh, running_envoy
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

pytestmark = pytest.mark.integration

TRUST_DOMAIN = load_mesh().trust_domain


@pytest.fixture(scope="module")
def user(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    running = user_service(postgres, tmp_path_factory.mktemp("p17"))
    running.start()
    yield running
    running.terminate()


@pytest.fixture(scope="module")
def user_id(user: ServiceProcess) -> str:
    with mesh_tls.channel(user.address, "edge") as channel:
        created = v1_grpc.UserServiceStub(channel).CreateUser(
            v1.CreateUserRequest(email="p17@example.com", display_name="Seventeen"), timeout=5
        )
    return created.user.user_id


def get_user(
    address: str, credentials: grpc.ChannelCredentials, user_id: str, **metadata: str
) -> v1.GetUserResponse:
    with grpc.secure_channel(address, credentials, server_name_options("user")) as channel:
        reply: v1.GetUserResponse = v1_grpc.UserServiceStub(channel).GetUser(
            v1.GetUserRequest(user_id=user_id), timeout=5, metadata=tuple(metadata.items())
        )
    return reply


def credentials_of(cert: bytes, key: bytes, ca: bytes | None = None) -> grpc.ChannelCredentials:
    trusted = ca if ca is not None else mesh_tls.files().ca.read_bytes()
    return grpc.ssl_channel_credentials(trusted, key, cert)


def refused(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE, raised.value
    return raised.value


def test_a_listed_caller_is_served_over_mtls(user: ServiceProcess, user_id: str) -> None:
    cert, key, ca = mesh_tls.files("order").read()
    assert get_user(user.address, credentials_of(cert, key, ca), user_id).user.user_id == user_id


def test_a_client_without_a_certificate_is_refused_and_the_service_says_why(
    user: ServiceProcess, user_id: str
) -> None:
    no_cert = grpc.ssl_channel_credentials(mesh_tls.files().ca.read_bytes())
    refused(lambda: get_user(user.address, no_cert, user_id))
    assert "PEER_DID_NOT_RETURN_A_CERTIFICATE" in wait_for_log(user, "PEER_DID_NOT_RETURN")


def test_a_certificate_from_another_ca_is_refused(user: ServiceProcess, user_id: str) -> None:
    foreign_root = new_root(TRUST_DOMAIN)  # same trust domain and name, other CA
    forged = issue_leaf(foreign_root, TRUST_DOMAIN, Identity("edge", ("edge",), ("127.0.0.1",)))
    error = refused(
        lambda: get_user(
            user.address, credentials_of(forged.certificate, forged.private_key), user_id
        )
    )
    del error  # the client only sees the connection close; the service's log says why:
    assert "unable to get local issuer certificate" in wait_for_log(user, "local issuer")


def test_an_expired_certificate_is_refused(user: ServiceProcess, user_id: str) -> None:
    root = CertStore(mesh_tls.directory()).read_root()
    assert root is not None
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=3)
    expired = issue_leaf(
        root,
        TRUST_DOMAIN,
        Identity("edge", ("edge",), ("127.0.0.1",)),
        datetime.timedelta(hours=1),
        not_before=long_ago,
    )
    refused(
        lambda: get_user(
            user.address, credentials_of(expired.certificate, expired.private_key), user_id
        )
    )
    assert "certificate has expired" in wait_for_log(user, "certificate has expired")


def test_there_is_no_plaintext_port(user: ServiceProcess, user_id: str) -> None:
    with grpc.insecure_channel(user.address) as channel:
        stub = v1_grpc.UserServiceStub(channel)
        refused(lambda: stub.GetUser(v1.GetUserRequest(user_id=user_id), timeout=5))


def test_an_unlisted_identity_is_denied_with_the_caller_and_method_named(
    user: ServiceProcess, user_id: str
) -> None:
    cert, key, ca = mesh_tls.files(mesh_tls.STRANGER).read()
    with pytest.raises(grpc.RpcError) as raised:
        get_user(user.address, credentials_of(cert, key, ca), user_id)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert raised.value.details() == ("stranger may not call /shop.user.v1.UserService/GetUser")
    assert '"caller": "stranger"' in wait_for_log(user, '"grpc_code": "PERMISSION_DENIED"')


def test_order_may_read_a_user_but_not_create_one(user: ServiceProcess) -> None:
    with mesh_tls.channel(user.address, "order") as channel, pytest.raises(grpc.RpcError) as raised:
        v1_grpc.UserServiceStub(channel).CreateUser(
            v1.CreateUserRequest(email="o@example.com", display_name="O"), timeout=5
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert raised.value.details() == "order may not call /shop.user.v1.UserService/CreateUser"


def test_health_is_open_to_every_mesh_certificate(user: ServiceProcess) -> None:
    for identity in ("edge", "order", mesh_tls.STRANGER):
        with mesh_tls.channel(user.address, identity) as channel:
            check: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                "/grpc.health.v1.Health/Check"
            )
            assert check(b"", timeout=5) is not None


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    with probe_upstream(tmp_path_factory.mktemp("p17-probe")) as running:
        yield running


@pytest.fixture(scope="module")
def edge(probe: Probe, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Envoy]:
    with running_envoy(edge_mesh([probe.port]), tmp_path_factory.mktemp("p17-edge")) as envoy:
        envoy.wait_upstreams_healthy()
        yield envoy


def seen(reply: v1.GetUserResponse) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(reply.user.display_name)
    return found


def test_the_edge_checks_the_jwt_and_passes_its_subject_over_mtls(edge: Envoy) -> None:
    without = edge.request("PATCH", "/v1/users/alice", {"display_name": "x"})
    assert without.status == 401
    token = {"authorization": f"Bearer {edge.token('alice')}"}
    reply = edge.request("PATCH", "/v1/users/alice", {"display_name": "x"}, token)
    assert reply.status == 200, reply.body
    forwarded = json.loads(reply.json()["user"]["display_name"])
    assert (forwarded["caller"], forwarded["end_user"]) == ("edge", "alice")


def test_an_end_user_header_from_anyone_but_the_edge_is_ignored(probe: Probe) -> None:
    address = f"127.0.0.1:{probe.port}"
    forged: tuple[tuple[str, str | bytes], ...] = (("x-jwt-sub", "alice"),)
    with mesh_tls.channel(address, "operator") as channel:
        stub = v1_grpc.UserServiceStub(channel)
        reply = stub.GetUser(v1.GetUserRequest(user_id="u1"), timeout=5, metadata=forged)
        assert seen(reply)["end_user"] is None
        with pytest.raises(grpc.RpcError) as raised:
            stub.UpdateUser(v1.UpdateUserRequest(user_id="alice"), timeout=5, metadata=forged)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "ignored the end user (x-jwt-sub, x-jwt-roles) sent by operator" in (
        probe.log_file.read_text()
    )
    with mesh_tls.channel(address, "edge") as channel:  # the control: the edge is believed
        reply = v1_grpc.UserServiceStub(channel).GetUser(
            v1.GetUserRequest(user_id="u1"), timeout=5, metadata=forged
        )
    assert seen(reply)["end_user"] == "alice"


def test_the_edge_sends_no_traffic_to_an_upstream_with_another_identity(
    tmp_path: Path,
) -> None:
    with (
        probe_upstream(tmp_path, identity="order") as impostor,
        running_envoy(edge_mesh([impostor.port]), tmp_path / "edge") as envoy,
    ):
        reply = envoy.request("GET", "/v1/users/u1")
        assert reply.status == 503
        assert (
            envoy.stats("cluster.user.ssl.fail_verify_san").get(
                "cluster.user.ssl.fail_verify_san", 0
            )
            > 0
        )
        assert impostor.calls("GetUser", reply.headers.get("x-request-id", "")) == 0


def test_grpcurl_with_the_readme_command_lists_the_services(user: ServiceProcess) -> None:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"^(\.venv/bin/grpcurl -cacert \S+ .*? list)$", readme, re.MULTILINE)
    assert match is not None, "the README shows grpcurl over mTLS"
    command = match[1].replace(".run/certs/", f"{mesh_tls.directory()}/")
    command = command.replace("127.0.0.1:50051", user.address)
    command = command.replace(".venv/bin/grpcurl", tool("grpcurl"))
    listed = subprocess.run(
        command.split(), capture_output=True, text=True, timeout=30, check=True
    ).stdout.split()
    assert {"shop.user.v1.UserService", "shop.user.v2.UserService"} <= set(listed)


def wait_for_log(service: ServiceProcess, text: str, timeout: float = 5.0) -> str:
    """The service's log once it mentions `text` (grpc writes handshake errors a bit later)."""
    deadline = time.monotonic() + timeout
    while text not in (log := service.log()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return log


def test_a_service_without_a_certificate_will_not_start_in_plaintext(
    postgres: Postgres, tmp_path: Path
) -> None:
    service = user_service(postgres, tmp_path)
    for key in ("TLS_CERT_PATH", "TLS_KEY_PATH", "TLS_CA_PATH"):
        service.env.pop(f"USER_SERVICE_{key}")
    service.env.pop("PROTOMESH_INSECURE", None)
    with pytest.raises(RuntimeError, match="exited 2") as raised:
        service.start(timeout=30)
    assert "no TLS certificate configured" in str(raised.value)
