"""`python -m protomesh.healthcheck HOST:PORT`: exit 0 when a gRPC server reports SERVING.

The container healthcheck of every protomesh service (compose and Kubernetes
exec probes alike) and the local cluster's probe: the standard
grpc.health.v1 check of the whole server (service ""), so a server that is up
but NOT_SERVING (draining, its database down) counts as unhealthy.
"""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2

DEFAULT_TIMEOUT = 2.0


def check(address: str, timeout: float = DEFAULT_TIMEOUT) -> tuple[bool, str]:
    """(serving?, what the server said). Through `unary_unary`: HealthStub's stubs are untyped."""
    try:
        with grpc.insecure_channel(address) as channel:
            call = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            response = call(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    except grpc.RpcError as error:
        return False, f"no answer ({error.code().name})"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    return status == "SERVING", status


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m protomesh.healthcheck HOST:PORT", file=sys.stderr)
        return 2
    serving, detail = check(argv[0])
    print(f"{argv[0]}: {detail}")
    return 0 if serving else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
