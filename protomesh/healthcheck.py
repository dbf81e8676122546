"""`python -m protomesh.healthcheck [TLS flags] HOST:PORT`: exit 0 when a gRPC server is SERVING.

The container healthcheck of every protomesh service (compose and Kubernetes
exec probes alike) and the local cluster's probe: the standard
grpc.health.v1 check of the whole server (service ""), so a server that is up
but NOT_SERVING (draining, its database down) counts as unhealthy.

Services take mTLS only, so the check presents a mesh certificate
(`--cert/--key/--ca`, the container's own), and verifies the server as
`--server-name` (a DNS name of its certificate). Without TLS flags it speaks
plaintext, for a mesh run with PROTOMESH_INSECURE=1.

    python -m protomesh.healthcheck --cert /certs/user.crt --key /certs/user.key \\
        --ca /certs/ca.crt --server-name user 127.0.0.1:50051
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2

from protomesh.tls.client import channel_credentials, server_name_options
from protomesh.tls.files import TlsFiles

DEFAULT_TIMEOUT = 2.0


def check(
    address: str,
    timeout: float = DEFAULT_TIMEOUT,
    tls: TlsFiles | None = None,
    server_name: str | None = None,
) -> tuple[bool, str]:
    """(serving?, what the server said). Through `unary_unary`: HealthStub's stubs are untyped."""
    try:
        with _channel(address, tls, server_name) as channel:
            call = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            response = call(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    except grpc.RpcError as error:
        return False, f"no answer ({error.code().name})"
    except OSError as error:  # the certificate files are missing or unreadable
        return False, f"cannot check over mTLS: {error}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    return status == "SERVING", status


def serving(address: str, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether the plaintext server at `address` answers SERVING (for polling loops)."""
    return check(address, timeout)[0]


def _channel(address: str, tls: TlsFiles | None, server_name: str | None) -> grpc.Channel:
    if tls is None:
        return grpc.insecure_channel(address)
    options = server_name_options(server_name) if server_name else []
    return grpc.secure_channel(address, channel_credentials(tls), options=options)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m protomesh.healthcheck",
        description="Exit 0 when the gRPC server at HOST:PORT reports SERVING, 1 otherwise.",
    )
    parser.add_argument("address", metavar="HOST:PORT")
    parser.add_argument("--cert", type=Path, help="the client certificate to present (PEM)")
    parser.add_argument("--key", type=Path, help="its private key")
    parser.add_argument("--ca", type=Path, help="the mesh CA the server's certificate is from")
    parser.add_argument("--server-name", help="verify the server as this name (default: HOST)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    given = {"--cert": args.cert, "--key": args.key, "--ca": args.ca}
    missing = [flag for flag, path in given.items() if path is None]
    if missing and len(missing) < len(given):
        parser.error(f"give {', '.join(missing)} too: mTLS needs all three files")
    tls = None if missing else TlsFiles(args.cert, args.key, args.ca)
    serving, detail = check(args.address, args.timeout, tls, args.server_name)
    print(f"{args.address}: {detail}")
    return 0 if serving else 1


if __name__ == "__main__":
    raise SystemExit(main())
