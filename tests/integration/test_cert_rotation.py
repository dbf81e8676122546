"""Rotating every certificate under load fails no call, and new handshakes use the new ones.

A steady trickle of calls runs the whole time, direct over mTLS (a channel
from the registry, as a service would call another) and as REST through the
real Envoy, against the probe upstream (the real runtime over real TLS),
which reports the serial of the certificate each caller connected with.
Midway, `protomesh certs rotate`'s code reissues every leaf. The trickle
goes on until the service presents its new certificate to a fresh
handshake, the direct caller's channel presents the caller's new one, and
Envoy presents the edge's new one, each checked by serial; not one call
may fail on the way.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from protomesh.channels import channel_for
from protomesh.registry import load_mesh
from protomesh.tls.files import TlsFiles
from protomesh_toolkit.certs.issuance import ensure_certificates
from tests.support import mesh_tls
from tests.support.edge_upstream import Probe, probe_upstream
from tests.support.envoy import Envoy, edge_mesh, running_envoy

pytestmark = pytest.mark.integration

MAX_ROUNDS = 3000  # bounds on the trickle, whatever the machine's speed
MAX_SECONDS = 60.0
PAUSE = 0.02  # between rounds: a trickle, not a flood


@dataclass
class Rig:
    certs: Path
    probe: Probe
    envoy: Envoy


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    # A copy of the session's CA and certificates: rotating it disturbs no other test.
    certs = shutil.copytree(mesh_tls.directory(), tmp_path / "certs", symlinks=True)

    def short_lived_connections(document: dict[str, Any]) -> None:
        document["edge"]["connection_lifetime"] = "2s"

    with probe_upstream(tmp_path, certs=certs) as probe:
        mesh = edge_mesh([probe.port], short_lived_connections)
        with running_envoy(mesh, tmp_path / "edge", certs) as envoy:
            envoy.wait_upstreams_healthy()
            yield Rig(certs, probe, envoy)


def serial(pem_file: Path) -> int:
    return x509.load_pem_x509_certificate(pem_file.read_bytes()).serial_number


def presented_serial(address: str, files: TlsFiles) -> int:
    """The serial of the certificate the server shows to a brand-new handshake."""
    context = ssl.create_default_context(cafile=str(files.ca))
    context.load_cert_chain(str(files.cert), str(files.key))
    context.set_alpn_protocols(["h2"])
    host, _, port = address.rpartition(":")
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="user") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


@dataclass
class Trickle:
    failures: list[str] = field(default_factory=list)
    direct_serials: list[int] = field(default_factory=list)
    edge_serials: list[int] = field(default_factory=list)
    rounds: int = 0


async def one_round(stub: v1_grpc.UserServiceAsyncStub, envoy: Envoy, trickle: Trickle) -> None:
    trickle.rounds += 1
    try:
        reply = await stub.GetUser(v1.GetUserRequest(user_id="u1"), timeout=5)
        trickle.direct_serials.append(json.loads(reply.user.display_name)["caller_serial"])
    except Exception as error:  # every failure is the finding, whatever its type
        trickle.failures.append(f"direct: {error!r}")
    rest = await asyncio.to_thread(envoy.request, "GET", "/v1/users/u1")
    if rest.status == 200:
        trickle.edge_serials.append(
            json.loads(rest.json()["user"]["display_name"])["caller_serial"]
        )
    else:
        trickle.failures.append(f"REST: {rest.status} {rest.body[:200]!r}")


async def test_rotating_every_certificate_fails_no_call_and_new_handshakes_use_new_ones(
    rig: Rig,
) -> None:
    mesh = load_mesh()
    operator = TlsFiles.of(rig.certs, "operator")
    service = f"127.0.0.1:{rig.probe.port}"
    old = {name: serial(rig.certs / f"{name}.crt") for name in ("user", "edge", "operator")}
    trickle = Trickle()
    async with channel_for("user", rig.envoy.mesh, "local", tls=operator) as channel:
        stub = v1_grpc.UserServiceStub(channel)
        for _ in range(10):
            await one_round(stub, rig.envoy, trickle)
        assert trickle.failures == []
        assert (trickle.direct_serials[-1], trickle.edge_serials[-1]) == (
            old["operator"],
            old["edge"],
        )

        ensure_certificates(mesh, rig.certs, rotate=True)
        new = {name: serial(rig.certs / f"{name}.crt") for name in old}
        assert all(new[name] != old[name] for name in old)

        deadline = time.monotonic() + MAX_SECONDS
        while trickle.rounds < MAX_ROUNDS and time.monotonic() < deadline:
            await one_round(stub, rig.envoy, trickle)
            if (
                trickle.direct_serials[-1:] == [new["operator"]]
                and trickle.edge_serials[-1:] == [new["edge"]]
                and presented_serial(service, operator) == new["user"]
            ):
                break
            await asyncio.sleep(PAUSE)

    assert trickle.failures == []
    assert trickle.direct_serials[-1] == new["operator"], "the channel kept the old certificate"
    assert trickle.edge_serials[-1] == new["edge"], "Envoy kept the old client certificate"
    assert presented_serial(service, operator) == new["user"]
    assert "certificate files changed" in rig.probe.log_file.read_text()
