"""`python -m protomesh.healthcheck` against a real gRPC server that takes mTLS only.

What every compose healthcheck and Kubernetes exec probe runs: it must pass
with the container's certificate, and fail (never pass vacuously) without
one or when the server reports NOT_SERVING.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from protomesh import healthcheck
from protomesh.tls.files import TlsFiles
from tests.support import mesh_tls

# These tests serve real gRPC in process, over mTLS with the session CA.
pytestmark = pytest.mark.usefixtures("mesh_certificates")


@pytest.fixture
def mtls_server() -> Iterator[tuple[str, health.HealthServicer]]:
    """A health servicer behind `user`'s certificate, requiring a client certificate."""
    cert, key, ca = mesh_tls.files("user").read()
    credentials = grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=True
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2),
        options=[("grpc.so_reuseport", 0)],
    )
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        server.stop(None)


def flags(identity: str) -> list[str]:
    files = mesh_tls.files(identity)
    return ["--cert", str(files.cert), "--key", str(files.key), "--ca", str(files.ca)]


def test_serving_over_mtls_with_the_containers_own_certificate(
    mtls_server: tuple[str, health.HealthServicer], capsys: pytest.CaptureFixture[str]
) -> None:
    address, servicer = mtls_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)

    assert healthcheck.main([*flags("user"), "--server-name", "user", address]) == 0
    assert capsys.readouterr().out == f"{address}: SERVING\n"


def test_not_serving_fails(mtls_server: tuple[str, health.HealthServicer]) -> None:
    address, servicer = mtls_server
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)

    assert healthcheck.check(address, 2.0, mesh_tls.files("user"), "user") == (
        False,
        "NOT_SERVING",
    )


def test_without_a_certificate_the_server_refuses_the_check(
    mtls_server: tuple[str, health.HealthServicer],
) -> None:
    address, servicer = mtls_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)

    assert healthcheck.main(["--timeout", "1", address]) == 1  # plaintext: no answer
    serving, detail = healthcheck.check(address, 1.0, mesh_tls.files("user"), "order")
    assert not serving, "the server's certificate is not order's"
    assert detail.startswith("no answer")


def test_missing_certificate_files_are_reported_not_raised() -> None:
    files = mesh_tls.files("user")
    gone = TlsFiles(files.cert, files.key, mesh_tls.directory() / "missing-ca.crt")

    serving, detail = healthcheck.check("127.0.0.1:1", 1.0, gone)
    assert not serving
    assert "missing-ca.crt" in detail


def test_a_partial_set_of_tls_flags_is_a_usage_error() -> None:
    files = mesh_tls.files("user")
    with pytest.raises(SystemExit) as exited:
        healthcheck.main(["--cert", str(files.cert), "127.0.0.1:1"])
    assert exited.value.code == 2
