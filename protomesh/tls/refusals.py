"""Say on the client's side what a refused TLS connection most likely was.

When a server refuses our certificate (unknown CA, expired, none), grpc
tells the client only UNAVAILABLE "Socket closed": TLS 1.3 rejects a client
certificate after the client has finished its side of the handshake. When
the client refuses the server's, grpc's details name the TLS error. Either
way the caller's log should say which service, and what to check, instead
of a bare "unavailable"; the server's log (grpc's core) has the exact reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

log = logging.getLogger("protomesh.tls")

Request = TypeVar("Request")
Response = TypeVar("Response")
_SIGNS = ("Socket closed", "SSL", "handshake", "Handshake", "certificate")


class RefusalLog(grpc.aio.UnaryUnaryClientInterceptor):
    """Log a warning naming the target when a call fails because TLS refused the connection."""

    def __init__(self, target: str) -> None:
        self.target = target

    async def intercept_unary_unary(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, Request],
            Awaitable[grpc.aio.UnaryUnaryCall[Request, Response]],
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Request,
    ) -> Response | grpc.aio.UnaryUnaryCall[Request, Response]:
        call = await continuation(client_call_details, request)
        try:
            await call
        except grpc.aio.AioRpcError as error:
            details = error.details() or ""
            if error.code() == grpc.StatusCode.UNAVAILABLE and any(s in details for s in _SIGNS):
                log.warning(
                    "connection to %s refused in the TLS handshake (%s): is this process's "
                    "certificate from the mesh CA and unexpired, and the server's named %s? "
                    "The server's log says which side refused and why",
                    self.target,
                    details,
                    self.target,
                )
        return call
