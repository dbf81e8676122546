"""Typed helpers for what the type stubs of grpc's own services leave untyped."""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2

from tests.support import mesh_tls

_HEALTH_CHECK = "/grpc.health.v1.Health/Check"


def health(address: str, service: str = "", timeout: float = 1.0, *, tls: bool = True) -> str:
    """grpc.health.v1 status name (SERVING, NOT_SERVING...) from a blocking call.

    Over mTLS as the operator, as every mesh service requires; `tls=False` for
    the edge, whose public listener is plaintext.
    """
    with mesh_tls.channel(address) if tls else grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(
            _HEALTH_CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        response = call(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


async def health_async(channel: grpc.aio.Channel, service: str = "") -> str:
    call = channel.unary_unary(
        _HEALTH_CHECK,
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    response = await call(health_pb2.HealthCheckRequest(service=service), timeout=2)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def status_of(error: grpc.RpcError | grpc.aio.AioRpcError) -> status_pb2.Status:
    """The google.rpc.Status a server attached to a failed call."""
    metadata: Any = error.trailing_metadata() or ()
    for key, value in metadata:
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    raise AssertionError("the call carried no google.rpc.Status details")


def field_violations(error: grpc.RpcError | grpc.aio.AioRpcError) -> list[str]:
    """The fields a BadRequest detail names, in order."""
    bad_request = error_details_pb2.BadRequest()
    for detail in status_of(error).details:
        if detail.Unpack(bad_request):
            return [v.field for v in bad_request.field_violations]
    return []


def error_reason(error: grpc.RpcError | grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason a server attached (the stable key clients switch on)."""
    info = error_details_pb2.ErrorInfo()
    for detail in status_of(error).details:
        if detail.Unpack(info):
            return str(info.reason)
    raise AssertionError("the status carried no ErrorInfo")
