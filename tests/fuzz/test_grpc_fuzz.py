"""Malformed and extreme messages straight to each service over mTLS, for every RPC.

As the `operator` identity (mesh.yaml lets it call everything), so every
call reaches the parser and, when it parses, the handlers. A service must
answer each with a status a client can act on — never INTERNAL or UNKNOWN,
never a stack trace, source path or exception class in the message — and be
SERVING afterwards.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import status_pb2
from hypothesis import given

from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import load_mesh
from tests.fuzz.budget import Findings, fuzz_settings, share, total_cases
from tests.fuzz.leaks import leaks
from tests.fuzz.messages import Rpc, load_pool, request_bytes, rpcs_of
from tests.support import mesh_tls
from tests.support.grpc_calls import health, status_of
from tests.support.service import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.fuzz]

BROKEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
CALL_TIMEOUT = 10.0
_POOL = load_pool(DESCRIPTOR_SET)
_MESH = load_mesh()
# The processes the `fuzzed_services` fixture runs; a new service joins here and there.
FUZZED = ("user", "order")
SERVICES = [name for service in FUZZED for name in _MESH.services[service].serves]


def check_call(channel: grpc.Channel, rpc: Rpc, kind: str, payload: bytes, tally: Findings) -> None:
    call: Any = channel.unary_unary(rpc.path)  # raw bytes in and out: no serializer
    try:
        call(payload, timeout=CALL_TIMEOUT, metadata=(("x-request-id", "fuzz"),))
    except grpc.RpcError as raised:
        error: Any = raised
        code: grpc.StatusCode = error.code()
        tally.record(code.name)
        example = f"{rpc.path} {kind} {payload[:120]!r}: {code.name} {error.details()!r}"
        if code in BROKEN:
            tally.add(f"{code.name} on {rpc.path} ({kind})", example)
        text = f"{error.details()} {_status_text(error)}"
        if found := leaks(text, payload.decode("utf-8", "replace")):
            tally.add(f"leak {found[0]!r} on {rpc.path}", example)
    else:
        tally.record("OK")


def fuzz_rpc(channel: grpc.Channel, rpc: Rpc, cases: int, tally: Findings) -> None:
    @fuzz_settings(cases)
    @given(request_bytes(rpc))
    def fuzz(case: tuple[str, bytes]) -> None:
        check_call(channel, rpc, *case, tally)

    fuzz()


def _status_text(error: Any) -> str:
    """The google.rpc.Status details' text, where a leak would also show."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            return " ".join(
                [status.message, *(d.value.decode("utf-8", "replace") for d in status.details)]
            )
    return ""


@pytest.mark.parametrize("proto_service", SERVICES)
def test_a_service_survives_malformed_and_extreme_messages(
    proto_service: str,
    fuzzed_services: tuple[ServiceProcess, ServiceProcess],
    findings: Findings,
) -> None:
    owner = _MESH.server_of(proto_service)
    assert owner is not None
    process = next(p for p in fuzzed_services if p.name == owner.name)
    rpcs = rpcs_of(_POOL, proto_service)
    cases = share(share(total_cases(), len(SERVICES)), len(rpcs))
    with mesh_tls.channel(process.address, "operator", server=owner.name) as channel:
        for rpc in rpcs:
            fuzz_rpc(channel, rpc, cases, findings)
            if (state := health(process.address)) != "SERVING":
                findings.add(f"{owner.name} is {state} after {rpc.path}", process.log()[-2000:])
    assert not findings.found, findings.report()


# Found by this fuzzer: grpc.aio answered these UNKNOWN, naming
# google.protobuf.message.DecodeError (protomesh/interceptors/decoding.py).
UNDECODABLE = {
    "garbage": b"\x00",
    "truncated": b"\n\x81 ",
    "invalid utf-8": b"\n\x01\xff",
}


@pytest.mark.parametrize("kind", UNDECODABLE)
def test_a_request_that_does_not_parse_is_invalid_argument(
    kind: str, fuzzed_services: tuple[ServiceProcess, ServiceProcess]
) -> None:
    for process, path in zip(
        fuzzed_services,
        ["/shop.user.v1.UserService/GetUser", "/shop.order.v1.OrderService/GetOrder"],
        strict=True,
    ):
        with mesh_tls.channel(process.address, "operator", server=process.name) as channel:
            call: Any = channel.unary_unary(path)
            with pytest.raises(grpc.RpcError) as raised:
                call(UNDECODABLE[kind], timeout=CALL_TIMEOUT)
        error: Any = raised.value
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert not leaks(error.details())
        details = [d.type_url for d in status_of(error).details]
        assert "type.googleapis.com/google.rpc.BadRequest" in details
