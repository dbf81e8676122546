"""The tests' own mesh CA: certificates for every identity, and channels that use them.

One CA per test session, issued into the session's temp dir by the autouse
fixture in conftest.py (`use()`); services started by the tests get the
`user` identity's files, and tests dial them as `operator` (allowed every
user RPC by mesh.yaml) unless they say otherwise. `stranger` holds a valid
mesh certificate that no `callers` list names.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc

from protomesh.registry import load_mesh
from protomesh.settings import ServerSettings
from protomesh.tls.client import channel_credentials, server_name_options
from protomesh.tls.files import TlsFiles
from protomesh_toolkit.certs.authority import Identity
from protomesh_toolkit.certs.issuance import (
    LOOPBACK_IPS,
    LOOPBACK_NAMES,
    ensure_identities,
    mesh_identities,
)

STRANGER = "stranger"
ECHO = "echo"  # the in-process test servers of tests/unit/protomesh/test_channels.py
_directory: list[Path] = []


def use(directory: Path) -> Path:
    """Issue the session's certificates into `directory` and use them from now on."""
    mesh = load_mesh()
    extra = [Identity(name, (name, *LOOPBACK_NAMES), LOOPBACK_IPS) for name in (STRANGER, ECHO)]
    ensure_identities(mesh.trust_domain, [*mesh_identities(mesh), *extra], directory)
    _directory[:] = [directory]
    return directory


def directory() -> Path:
    if not _directory:
        raise RuntimeError("no test CA: the session fixture `mesh_certificates` makes one")
    return _directory[0]


def files(name: str = "operator") -> TlsFiles:
    return TlsFiles.of(directory(), name)


def service_environment(prefix: str, name: str = "user") -> dict[str, str]:
    """The settings that give a service process its TLS identity."""
    identity = files(name)
    return {
        f"{prefix}TLS_CERT_PATH": str(identity.cert),
        f"{prefix}TLS_KEY_PATH": str(identity.key),
        f"{prefix}TLS_CA_PATH": str(identity.ca),
    }


def options(server: str | None) -> list[tuple[str, Any]]:
    return server_name_options(server) if server else []


def channel(address: str, identity: str = "operator", server: str | None = None) -> grpc.Channel:
    """A blocking mTLS channel to `address`, as `identity`."""
    return grpc.secure_channel(address, channel_credentials(files(identity)), options(server))


def aio_channel(
    address: str, identity: str = "operator", server: str | None = None
) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(address, channel_credentials(files(identity)), options(server))


def grpcurl_flags(identity: str = "operator", server: str = "user") -> list[str]:
    """grpcurl's mTLS flags, as the README gives them (instead of -plaintext)."""
    own = files(identity)
    return [
        *("-cacert", str(own.ca), "-cert", str(own.cert), "-key", str(own.key)),
        *("-servername", server),
    ]


def with_identity(settings: ServerSettings, name: str = "user") -> ServerSettings:
    """`settings` for an in-process server holding `name`'s certificate."""
    identity = files(name)
    return replace(
        settings, tls_cert_path=identity.cert, tls_key_path=identity.key, tls_ca_path=identity.ca
    )
