"""One client's bad input never hurts another client, nor comes back as a 500 or UNKNOWN.

Against the real Envoy and the probe upstream on the real runtime
(tests/support/edge_upstream.py), and straight to the probe over mTLS. Bad
transport headers are sent with a raw HTTP/2 client (tests/support/raw_h2.py):
grpcio refuses to send them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from tests.support import mesh_tls
from tests.support.edge_upstream import Probe, probe_upstream
from tests.support.envoy import Envoy, edge_mesh, running_envoy
from tests.support.grpc_calls import field_violations, health
from tests.support.raw_h2 import RawConnection, frame

pytestmark = pytest.mark.integration

GET_USER = "/shop.user.v1.UserService/GetUser"
GOOD_BODY = frame(v1.GetUserRequest(user_id="u1").SerializeToString())
ROUTE_TIMEOUT = 2.0  # mesh.yaml's shop.user.v1.UserService timeout


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    with probe_upstream(tmp_path_factory.mktemp("probe")) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def edge(probe: Probe, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Envoy]:
    with running_envoy(edge_mesh([probe.port]), tmp_path_factory.mktemp("edge")) as envoy:
        envoy.wait_upstreams_healthy()
        yield envoy


def seen_by_probe(display_name: str) -> dict[str, Any]:
    seen: dict[str, Any] = json.loads(display_name)
    return seen


def grpc_client_with_deadline(address: str, channel: grpc.Channel | None = None) -> str:
    """Another client's ordinary call with a deadline (grpcio sends grpc-timeout)."""
    with channel or grpc.insecure_channel(address) as opened:
        reply = v1_grpc.UserServiceStub(opened).GetUser(v1.GetUserRequest(user_id="u1"), timeout=5)
    return reply.user.user_id


def test_a_malformed_grpc_timeout_is_refused_at_the_edge_and_nobody_else_notices(
    edge: Envoy,
) -> None:
    rest = edge.request("GET", "/v1/users/u1", headers={"grpc-timeout": "x"})
    assert rest.status == 400, rest.body
    body = rest.json()
    assert body["code"] == 3
    assert "grpc-timeout" in body["message"]
    with RawConnection.open("127.0.0.1", edge.port) as connection:
        refused = connection.call(GET_USER, GOOD_BODY, [("grpc-timeout", "x")])
        assert refused.grpc_status == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "grpc-timeout" in refused.grpc_message
        # The same client, same connection, a valid deadline: fine.
        again = connection.call(GET_USER, GOOD_BODY, [("grpc-timeout", "3S")])
        assert again.grpc_status == 0, again.grpc_message
    # Other clients through the same upstream connection, each with a deadline.
    for _ in range(3):
        assert grpc_client_with_deadline(edge.address) == "u1"
    with_deadline = edge.request("GET", "/v1/users/u1", headers={"grpc-timeout": "4S"})
    assert with_deadline.status == 200, with_deadline.body


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("grpc-timeout", "123456789S"),  # nine digits
        ("grpc-timeout", "5s"),  # no such unit
        ("grpc-timeout", "-1S"),
        ("grpc-timeout", ""),
        ("grpc-encoding", "br"),
        ("trace-bin", "!!!not base64"),
        ("x-note", "caf\xe9"),
    ],
)
def test_transport_headers_grpc_cannot_parse_are_refused_with_400(
    edge: Envoy, header: str, value: str
) -> None:
    with RawConnection.open("127.0.0.1", edge.port) as connection:
        refused = connection.call(GET_USER, GOOD_BODY, [(header, value)])
        assert refused.grpc_status == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "Error parsing" not in refused.grpc_message
        after = connection.call(
            GET_USER, GOOD_BODY, [(header, "AAAA" if "bin" in header else "1S")]
        )
        assert after.grpc_status in (0, 3)  # "1S" is no encoding: refused cleanly, not INTERNAL
    assert grpc_client_with_deadline(edge.address) == "u1"


def test_headers_only_servers_send_are_dropped_not_forwarded(edge: Envoy) -> None:
    sent = [
        ("grpc-status", "abc"),
        ("grpc-message", "%%%"),
        ("grpc-accept-encoding", "nonsense,,"),
        ("grpc-previous-rpc-attempts", "many"),
    ]
    with RawConnection.open("127.0.0.1", edge.port) as connection:
        for _ in range(2):
            reply = connection.call(GET_USER, GOOD_BODY, sent)
            assert reply.grpc_status == 0, reply.grpc_message
    # HTTP/1.1 allows any TE (HTTP/2 only "trailers", and Envoy enforces that).
    rest = edge.request("GET", "/v1/users/u1", headers={"te": "gzip", **dict(sent)})
    assert rest.status == 200, rest.body
    assert grpc_client_with_deadline(edge.address) == "u1"


def test_a_gRPC_content_type_the_services_cannot_read_is_refused(edge: Envoy) -> None:
    with RawConnection.open("127.0.0.1", edge.port) as connection:
        reply = connection.call(GET_USER, GOOD_BODY, content_type="application/grpc+json")
    assert reply.grpc_status == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "content-type" in reply.grpc_message


def test_a_client_deadline_travels_upstream_capped_at_the_route_timeout(edge: Envoy) -> None:
    short = edge.request("GET", "/v1/users/u1", headers={"grpc-timeout": "500m"})
    assert 0 < seen_by_probe(short.json()["user"]["display_name"])["deadline"] <= 0.5
    long = edge.request("GET", "/v1/users/u1", headers={"grpc-timeout": "1H"})
    assert 0 < seen_by_probe(long.json()["user"]["display_name"])["deadline"] <= ROUTE_TIMEOUT


def test_a_malformed_header_sent_straight_to_a_service_harms_no_other_client(
    probe: Probe,
) -> None:
    """grpc-core fails the sender's own connection (docs/edge.md); other connections are fine."""
    with RawConnection.open("127.0.0.1", probe.port, tls=mesh_tls.files()) as connection:
        bad = connection.call(GET_USER, GOOD_BODY, [("grpc-timeout", "x")])
        assert bad.grpc_status is not None
        assert bad.grpc_status != 0
    channel = mesh_tls.channel(f"127.0.0.1:{probe.port}")
    assert grpc_client_with_deadline("", channel) == "u1"
    assert health(f"127.0.0.1:{probe.port}") == "SERVING"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"\x0a\x02\xff\xfe", "user_id"),  # bad UTF-8
        (b"\x0a\x09ab", "user_id"),  # cut short
        (b"\xff\xff\xff", ""),  # no field to blame
    ],
)
def test_undecodable_protobuf_is_invalid_argument_naming_the_field(
    edge: Envoy, probe: Probe, body: bytes, field: str
) -> None:
    direct = mesh_tls.channel(f"127.0.0.1:{probe.port}")
    for channel in (grpc.insecure_channel(edge.address), direct):
        with channel:
            call: Any = channel.unary_unary(GET_USER)
            with pytest.raises(grpc.RpcError) as raised:
                call(body, timeout=5)
        error: Any = raised.value
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert field_violations(error) == [field]
        assert "class" not in error.details()
        assert "Error" not in error.details()
        assert grpc_client_with_deadline(edge.address) == "u1"


def test_a_path_parameter_that_is_not_utf8_is_a_400_naming_it(edge: Envoy) -> None:
    reply = edge.request("GET", "/v1/users/%ff%fe")
    assert reply.status == 400, reply.body
    body = reply.json()
    assert body["code"] == 3
    assert "user_id" in body["message"]
    assert "DecodeError" not in reply.body.decode()


def test_the_access_log_and_the_reply_say_the_same_status(edge: Envoy) -> None:
    cases = {
        "/v1/users/INVALID_ARGUMENT": ("InvalidArgument", "3"),
        "/v1/users/FAILED_PRECONDITION": ("FailedPrecondition", "9"),
        "/v1/users/NOT_FOUND": ("NotFound", "5"),
        "/v1/users/u1": ("OK", "0"),
    }
    logged_as = {}
    for path, (logged, header) in cases.items():
        reply = edge.request("GET", path)
        assert reply.headers["grpc-status"] == header
        assert str(reply.json().get("code", 0)) == header
        logged_as[reply.headers["x-request-id"]] = logged
    refused = edge.request("GET", "/v1/users/u1", headers={"grpc-timeout": "x"})
    assert refused.headers["grpc-status"] == "3"
    logged_as[refused.headers["x-request-id"]] = "InvalidArgument"
    # Envoy flushes its log every few seconds: wait once, for all of them.
    for request_id, logged in logged_as.items():
        entry = edge.wait_for_access_log(request_id, timeout=20)[0]
        assert entry["grpc_status"] == logged, entry


def test_a_grpc_caller_cannot_pass_itself_off_as_a_transcoded_rest_call(edge: Envoy) -> None:
    """Found by the fuzzer: a forged x-envoy-original-method got a REST reply over gRPC."""
    forged = [("x-envoy-original-method", "GET"), ("grpc-timeout", "")]
    with RawConnection.open("127.0.0.1", edge.port) as connection:
        reply = connection.call(GET_USER, GOOD_BODY, forged)
    assert reply.grpc_status == grpc.StatusCode.INVALID_ARGUMENT.value[0], reply.grpc_message
    assert "grpc-timeout" in reply.grpc_message


def test_a_compressed_request_message_is_refused_at_the_edge(edge: Envoy) -> None:
    """Found by the fuzzer: bytes that do not inflate were INTERNAL from grpc-core."""
    compressed = b"\x01" + GOOD_BODY[1:]
    with RawConnection.open("127.0.0.1", edge.port) as connection:
        reply = connection.call(GET_USER, compressed, [("grpc-encoding", "gzip")])
    assert reply.grpc_status == grpc.StatusCode.INVALID_ARGUMENT.value[0], reply.grpc_message
    assert "uncompressed" in reply.grpc_message
