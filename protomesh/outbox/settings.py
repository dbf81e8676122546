"""How an outbox relay behaves, and how a stand-alone relay process is configured.

`RelaySettings` is what `OutboxRelay` needs, embedded by a service that runs
the relay in-process. `RelayConfig` adds where the database and NATS are,
for `python -m protomesh.outbox` (variables `OUTBOX_RELAY_<NAME>`, secrets
through `OUTBOX_RELAY_DATABASE_PASSWORD_FILE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from protomesh.config import Secret, setting
from protomesh.tls.files import TlsFiles, tls_files

PREFIX = "OUTBOX_RELAY_"


@dataclass(frozen=True, kw_only=True)
class RelaySettings:
    batch_size: int = setting(500, minimum=1, maximum=10_000, doc="rows claimed per transaction")
    poll_interval: float = setting(
        1.0, minimum=0.01, doc="seconds between polls when no NOTIFY arrives (the fallback)"
    )
    pipelines: int = setting(
        2,
        minimum=1,
        maximum=8,
        doc="batches in hand at once: one claims and marks in PostgreSQL while one publishes",
    )
    max_in_flight: int = setting(
        256, minimum=1, maximum=10_000, doc="publishes awaiting their ack at once"
    )
    ack_timeout: float = setting(5.0, minimum=0.05, doc="seconds to wait for JetStream's ack")
    retention: float = setting(
        3600.0, minimum=0, doc="seconds published rows are kept (0: delete when published)"
    )
    max_backoff: float = setting(
        5.0, minimum=0.01, doc="longest wait between retries while NATS or PostgreSQL is down"
    )


@dataclass(frozen=True, kw_only=True)
class RelayConfig(RelaySettings):
    database_url: str = setting(
        doc="postgresql://ROLE@HOST:PORT/DB of the service owning the outbox"
    )
    database_password: Secret | None = setting(None, doc="the role's password; use _FILE")
    database_schema: str = setting(doc="the schema holding the outbox table")
    nats_url: str = setting("nats://127.0.0.1:4222", doc="NATS server(s), comma-separated")
    streams: tuple[str, ...] = setting(
        (),
        doc="contexts whose event streams to declare on connecting, comma-separated (e.g. order)",
    )
    name: str = setting(
        "outbox-relay", doc="client name in NATS and application_name in PostgreSQL"
    )
    # A tls:// NATS (the mesh's) admits a client by its certificate: the relay runs as the
    # identity of the service whose outbox it drains, so it may publish that context's events.
    tls_cert_path: Path | None = setting(None, doc="its mesh certificate, for a tls:// NATS")
    tls_key_path: Path | None = setting(None, doc="the certificate's private key")
    tls_ca_path: Path | None = setting(None, doc="the mesh CA certificate")

    @property
    def tls(self) -> TlsFiles | None:
        return tls_files(self.tls_cert_path, self.tls_key_path, self.tls_ca_path)

    log_level: str = setting("info", choices=("debug", "info", "warning", "error"))
    log_pretty: bool = setting(False, doc="human-readable logs instead of JSON lines")
