"""Client channels to mesh services, found by name in the registry.

A caller names the service (`channel_for("user", mesh, "local")`), never an
address: the addresses of its replicas come from mesh.yaml, so moving or
scaling a service changes one file. The channel balances calls across every
replica that is *healthy*, not merely connected:

- `round_robin` keeps a connection to every replica and rotates calls over
  the ready ones (grpc's default, `pick_first`, would pin all calls to one);
- `healthCheckConfig` makes grpc watch each replica's grpc.health.v1 status
  (a `Watch` stream per connection) and count a replica as ready only while
  it answers SERVING. A replica that drains on SIGTERM turns NOT_SERVING
  first, so calls move to the others before it stops accepting them.
  grpcio needs nothing else for this (no channel argument; checked with
  1.85); `grpc.inhibit_health_checking` would turn it off.

Every call through the channel gets a deadline: the caller's timeout, or
`default_timeout`, and never more than what the incoming request has left
(`request_context.time_remaining`), so a deadline set at the edge propagates.

Every channel is mutual TLS: the caller presents its own certificate (`tls`,
the service's `settings.tls`) and accepts only a server whose certificate
carries the target service's name, whatever address a replica is at. When
the caller's certificate files are rotated, the channel moves new calls to a
fresh connection with the new certificate (`rotating.py`). Plaintext only
with the mesh-wide PROTOMESH_INSECURE=1.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc

from protomesh import request_context
from protomesh.registry import Mesh
from protomesh.rotating_channel import RotatingChannel
from protomesh.telemetry.runtime import client_interceptors
from protomesh.tls.client import channel_credentials, server_name_options
from protomesh.tls.files import TlsConfigurationError, TlsFiles, insecure
from protomesh.tls.refusals import RefusalLog

DEFAULT_TIMEOUT = 5.0  # seconds, for a call that brings no timeout of its own

# Ping a connection that has calls in flight every 30 s and drop it when the
# reply takes over 10 s: a replica that vanished without closing its sockets
# (a lost host, a partition) is noticed long before TCP would. Servers
# tolerate this rate: grpc sends at most two pings between data frames
# (`grpc.http2.max_pings_without_data`), under their abuse limit.
KEEPALIVE_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
]

# Redial a lost replica after 0.1 s, growing to at most 1 s (grpc's defaults:
# 1 s growing 1.6-fold to 2 minutes). A replica restarted after a crash took
# calls again only on the caller's next attempt, seconds after it served: a
# chaos run saw PlaceOrder refused for ~0.5 s after the user service was back.
# A redial a second per replica per caller is nothing to a down server.
RECONNECT_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]

Request = TypeVar("Request")
Response = TypeVar("Response")


def service_config(health_service: str = "") -> str:
    """The grpc service config: round robin over replicas whose health is SERVING.

    `health_service` is the name asked of grpc.health.v1; "" is the whole
    server, which protomesh servers turn NOT_SERVING when they drain or lose
    a dependency.
    """
    return json.dumps(
        {
            "loadBalancingConfig": [{"round_robin": {}}],
            "healthCheckConfig": {"serviceName": health_service},
        }
    )


def target(addresses: Sequence[str]) -> str:
    """A grpc target that resolves to these `host:port` addresses, one per replica.

    IP literals go to grpc's static resolver (`ipv4:127.0.0.1:1,127.0.0.1:2`),
    so nothing stands between the registry and the connections. One host name
    is left to grpc's DNS resolver, which re-resolves it and balances over
    every address it has. grpc has no target for several host names (one per
    container, as Compose names replicas), so those are resolved here, once:
    a channel made before a replica's container exists fails to find it, and
    one made earlier does not follow a container that changed address.
    """
    if not addresses:
        raise ValueError("no addresses to connect to")
    families = {_family(address) for address in addresses}
    if families in ({"ipv4"}, {"ipv6"}):
        return f"{families.pop()}:{','.join(addresses)}"
    if len(addresses) == 1:
        return f"dns:///{addresses[0]}"
    return target([resolved for address in addresses for resolved in _resolve(address)])


def _resolve(address: str) -> list[str]:
    """The IPv4 addresses of a host name (IPv6 where it has none), as `ip:port`."""
    host, _, port = address.rpartition(":")
    if _family(address) != "dns":
        return [address]
    for family, form in ((socket.AF_INET, "{}:{}"), (socket.AF_INET6, "[{}]:{}")):
        try:
            found = socket.getaddrinfo(host, int(port), family, socket.SOCK_STREAM)
        except socket.gaierror:
            continue
        return sorted({form.format(entry[4][0], port) for entry in found})
    raise ValueError(f"cannot resolve {address!r}: is the replica running, and its name right?")


def _family(address: str) -> str:
    host, separator, port = address.rpartition(":")
    if not separator or not port.isdigit():
        raise ValueError(f"{address!r} is not host:port")
    try:
        ip = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return "dns"
    if ip.version == 6 and not host.startswith("["):
        raise ValueError(f"{address!r}: write an IPv6 address as [addr]:port")
    return f"ipv{ip.version}"


def call_timeout(default: float = DEFAULT_TIMEOUT) -> float:
    """Seconds an outbound call may take: `default`, cut to what the current request has left."""
    return request_context.time_remaining(default)


class OutboundDeadline(grpc.aio.UnaryUnaryClientInterceptor):
    """Give every unary call a deadline bounded by the incoming request's own."""

    def __init__(self, default_timeout: float) -> None:
        self.default_timeout = default_timeout

    async def intercept_unary_unary(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, Request],
            Awaitable[grpc.aio.UnaryUnaryCall[Request, Response]],
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Request,
    ) -> Response | grpc.aio.UnaryUnaryCall[Request, Response]:
        asked = client_call_details.timeout
        details = grpc.aio.ClientCallDetails(
            client_call_details.method,
            call_timeout(self.default_timeout if asked is None else asked),
            client_call_details.metadata,
            client_call_details.credentials,
            client_call_details.wait_for_ready,
        )
        return await continuation(details, request)


def channel_options(health_service: str = "") -> list[tuple[str, Any]]:
    return [
        ("grpc.service_config", service_config(health_service)),
        *KEEPALIVE_OPTIONS,
        *RECONNECT_OPTIONS,
    ]


def channel_for(
    name: str,
    mesh: Mesh,
    environment: str,
    *,
    tls: TlsFiles | None = None,
    health_service: str = "",
    default_timeout: float = DEFAULT_TIMEOUT,
) -> grpc.aio.Channel:
    """A channel to every replica of the service `name` in `environment`, as `tls`'s identity.

    Create it in a composition root (it connects lazily) and close it on
    shutdown; stubs made from it are cheap. `tls` is the calling service's
    own certificate (`config.tls`); it may be None only when the mesh runs
    with PROTOMESH_INSECURE=1.
    """
    service = mesh.services.get(name)
    if service is None:
        known = ", ".join(mesh.services) or "none"
        raise KeyError(f"no service {name!r} in the registry (services: {known})")
    if environment not in mesh.environments:
        raise KeyError(
            f"no environment {environment!r} in the registry"
            f" (environments: {', '.join(mesh.environments)})"
        )
    address = target(service.addresses(environment))
    # Every channel, and each fresh one a RotatingChannel makes, gets the same
    # interceptors: the deadline, then the telemetry (CLIENT span, RED metrics).
    interceptors = [OutboundDeadline(default_timeout), *client_interceptors()]
    if insecure():
        return grpc.aio.insecure_channel(
            address, options=channel_options(health_service), interceptors=interceptors
        )
    if tls is None:
        raise TlsConfigurationError(
            f"a channel to {name} needs the caller's certificate: pass tls=config.tls "
            "(or run the whole mesh with PROTOMESH_INSECURE=1)"
        )

    def connect() -> grpc.aio.Channel:
        return grpc.aio.secure_channel(
            address,
            channel_credentials(tls),
            options=[*channel_options(health_service), *server_name_options(name)],
            interceptors=[RefusalLog(name), *interceptors],
        )

    return RotatingChannel(connect, tls)
