"""What a NATS server allows each identity: mutual TLS, and per-identity permissions.

The server takes TLS connections only, verifies client certificates against
the mesh CA and maps each to a user by its SPIFFE id (`verify_and_map`: the
URI SAN `spiffe://<trust_domain>/svc/<name>`). A client without a mesh
certificate, or with one no user names, is refused at connect. Each service
that depends on NATS may:

- publish its own context's events (`<name>.events.>`) and dead letters
  (`dlq.>`), and nothing of another context: a forged `user.events...` from
  the order service is a permissions violation;
- create and update its own stream and DEAD_LETTERS, read any stream's info;
- run consumers (durable or ordered) and acknowledge messages only on the
  streams whose events mesh.yaml says it `consumes`: reporting reads
  ORDER_EVENTS and USER_EVENTS, order only USER_EVENTS;
- use the KV buckets it owns (`KV_BUCKETS`: bff's cache tier 2);
- receive replies on its inboxes (`_INBOX.>`), where JetStream's answers,
  pulled and pushed messages arrive.

A CDC worker (`order-cdc`, its own certificate) may publish its context's row
changes (`order.changes.>`) and manage ORDER_CHANGES, nothing else. The
operator (the human with the CLI, the console's dead-letter replay) gets
everything. The outbox relay runs under the identity of the service whose
outbox it drains, inside it or stand-alone.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from protomesh.bus.streams import DEAD_LETTERS, events_stream
from protomesh.cdc.naming import changes_stream
from protomesh.registry import ChangeCapture, Mesh, Service
from protomesh.tls.files import TlsFiles
from protomesh_toolkit.certs.issuance import OPERATOR
from services.bff.config import SHARED_CACHE_BUCKET

SERVER_IDENTITY = "nats"  # the server's own certificate: DNS names nats, localhost
# The KV buckets a service owns (bff's cache tier 2): only its owner may touch one.
KV_BUCKETS = {"bff": (SHARED_CACHE_BUCKET,)}


def spiffe_id(mesh: Mesh, name: str) -> str:
    return f"spiffe://{mesh.trust_domain}/svc/{name}"


def read_streams(mesh: Mesh, service: Service) -> list[str]:
    """The event streams a service reads: those of the producers of what it `consumes`."""
    streams: list[str] = []
    for event_type in service.consumes:
        producer = mesh.producer_of(event_type)
        if producer is not None and (name := events_stream(producer.name).name) not in streams:
            streams.append(name)
    return streams


def _consuming(stream: str) -> list[str]:
    """Run consumers on `stream` (durable pull or ordered push) and acknowledge its messages."""
    return [
        f"$JS.API.CONSUMER.*.{stream}",  # CREATE (ordered, ephemeral), NAMES, LIST
        f"$JS.API.CONSUMER.*.{stream}.>",  # CREATE with a name, INFO, DELETE
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.>",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.>",  # pull
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",  # an ordered consumer's flow-control replies
    ]


def _managing(stream: str) -> list[str]:
    return [f"$JS.API.STREAM.{verb}.{stream}" for verb in ("CREATE", "UPDATE")]


def _key_value(bucket: str) -> list[str]:
    """Create, read, write and watch one JetStream KV bucket."""
    stream = f"KV_{bucket}"
    return [
        f"$KV.{bucket}.>",
        *_managing(stream),
        f"$JS.API.STREAM.MSG.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        *_consuming(stream),
    ]


def _client(publish: list[str]) -> dict[str, Any]:
    common = ["$JS.API.INFO", "$JS.API.STREAM.INFO.>", "$JS.API.STREAM.NAMES"]
    return {"publish": {"allow": [*publish, *common]}, "subscribe": {"allow": ["_INBOX.>"]}}


def service_permissions(mesh: Mesh, service: Service) -> dict[str, Any]:
    """Publish its own events (when it `produces` some) and dead letters, manage its own
    stream and DEAD_LETTERS (its relay and consumers make them), consume the streams
    mesh.yaml says it reads (`consumes`), and use the KV buckets it owns."""
    publish = ["dlq.>", *_managing(DEAD_LETTERS.name)]
    if service.produces:  # its outbox relay publishes them and keeps its stream
        own = events_stream(service.name)
        publish += [*own.subjects, *_managing(own.name)]
    for stream in read_streams(mesh, service):
        publish += _consuming(stream)
    for bucket in KV_BUCKETS.get(service.name, ()):
        publish += _key_value(bucket)
    return _client(publish)


def capture_permissions(capture: ChangeCapture) -> dict[str, Any]:
    """A CDC worker: publish its context's row changes and manage their stream, nothing else."""
    stream = changes_stream(capture.service)
    return _client([*stream.subjects, *_managing(stream.name)])


def users(mesh: Mesh) -> list[dict[str, Any]]:
    """One NATS user per mesh identity that may connect, named by its SPIFFE id."""
    found = [
        {"user": spiffe_id(mesh, service.name), "permissions": service_permissions(mesh, service)}
        for service in mesh.services.values()
        if "nats" in service.depends_on
    ]
    found += [
        {"user": spiffe_id(mesh, capture.name), "permissions": capture_permissions(capture)}
        for capture in mesh.cdc.values()
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
