"""What a NATS server allows each identity: mutual TLS, and per-identity permissions.

The server takes TLS connections only, verifies client certificates against
the mesh CA and maps each to a user by its SPIFFE id (`verify_and_map`: the
URI SAN `spiffe://<trust_domain>/svc/<name>`). A client without a mesh
certificate, or with one no user names, is refused at connect. Each service
that depends on NATS may:

- publish its own context's events (`<name>.events.>`) and dead letters
  (`dlq.>`), and nothing of another context: a forged `user.events...` from
  the order service is a permissions violation;
- create and update its own stream and DEAD_LETTERS, read any stream's info,
  run its durable consumers and acknowledge what it consumes (the JetStream
  API, `$JS.API.CONSUMER.>`, `$JS.ACK.>`);
- receive replies on its inboxes (`_INBOX.>`), where JetStream's answers and
  pulled messages arrive.

The operator (the human with the CLI) gets everything. The relay runs inside
each service, under that service's identity.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from protomesh.bus.streams import DEAD_LETTERS, events_stream
from protomesh.registry import Mesh, Service
from protomesh.tls.files import TlsFiles
from protomesh_toolkit.certs.issuance import OPERATOR

SERVER_IDENTITY = "nats"  # the server's own certificate: DNS names nats, localhost


def spiffe_id(mesh: Mesh, name: str) -> str:
    return f"spiffe://{mesh.trust_domain}/svc/{name}"


def service_permissions(service: Service) -> dict[str, Any]:
    own = [events_stream(service.name).name, DEAD_LETTERS.name]
    streams = [f"$JS.API.STREAM.{verb}.{name}" for name in own for verb in ("CREATE", "UPDATE")]
    return {
        "publish": {
            "allow": [
                f"{service.name}.events.>",
                "dlq.>",
                "$JS.API.INFO",
                "$JS.API.STREAM.INFO.>",
                *streams,
                "$JS.API.CONSUMER.>",
                "$JS.ACK.>",
            ]
        },
        "subscribe": {"allow": ["_INBOX.>"]},
    }


def users(mesh: Mesh) -> list[dict[str, Any]]:
    """One NATS user per mesh identity that may connect, named by its SPIFFE id."""
    found = [
        {"user": spiffe_id(mesh, service.name), "permissions": service_permissions(service)}
        for service in mesh.services.values()
        if "nats" in service.depends_on
    ]
    everything = {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}
    return [*found, {"user": spiffe_id(mesh, OPERATOR), "permissions": everything}]


def server_config(
    mesh: Mesh,
    *,
    host: str,
    port: int,
    monitor_port: int,
    store_dir: PurePath,
    tls: TlsFiles | None,
) -> dict[str, Any]:
    """nats-server's configuration (JSON is valid NATS config); without `tls`, open plaintext
    (PROTOMESH_INSECURE=1 only: then nothing has an identity to map)."""
    config: dict[str, Any] = {
        "server_name": "protomesh",
        "listen": f"{host}:{port}",
        "http": f"{host}:{monitor_port}",  # monitoring: /healthz; not behind TLS
        "jetstream": {"store_dir": str(store_dir)},
    }
    if tls is not None:
        config["tls"] = {
            "cert_file": str(tls.cert),
            "key_file": str(tls.key),
            "ca_file": str(tls.ca),
            "verify_and_map": True,
            "timeout": 2,
        }
        config["authorization"] = {"users": users(mesh)}
    return config
