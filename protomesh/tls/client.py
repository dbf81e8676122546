"""Client credentials: a process dials mesh services with its own certificate.

The server is verified against the mesh CA and by its service name, which is
a DNS name only that service's certificate carries (`user`, whatever address
it is dialled at): `grpc.ssl_target_name_override` pins the connection to the
identity the caller meant, so a replica of another service on a stale
address is refused rather than called.
"""

from __future__ import annotations

from typing import Any

import grpc

from protomesh.tls.files import TlsFiles


def channel_credentials(files: TlsFiles) -> grpc.ChannelCredentials:
    cert, key, ca = files.read()
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )


def server_name_options(server_name: str) -> list[tuple[str, Any]]:
    """Verify the server as `server_name` (and send it as SNI), whatever the address."""
    return [("grpc.ssl_target_name_override", server_name)]
