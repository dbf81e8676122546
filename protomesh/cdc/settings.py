"""How a CDC worker is configured: variables `CDC_<NAME>` (flags win), secrets through `_FILE`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from protomesh.config import Secret, setting
from protomesh.tls.files import TlsFiles, tls_files

PREFIX = "CDC_"


@dataclass(frozen=True, kw_only=True)
class CaptureSettings:
    poll_interval: float = setting(
        0.01,
        minimum=0.001,
        doc="seconds to wait after a read of the slot that found nothing (doubled while idle)",
    )
    idle_poll_interval: float = setting(
        0.1,
        minimum=0.001,
        doc="the longest wait between reads of an idle slot (the first change after a lull)",
    )
    batch_size: int = setting(
        1000,
        minimum=1,
        maximum=100_000,
        doc="changes read per pass (whole transactions: a pass may hold more)",
    )
    max_in_flight: int = setting(
        256, minimum=1, maximum=10_000, doc="publishes awaiting their ack at once"
    )
    ack_timeout: float = setting(5.0, minimum=0.05, doc="seconds to wait for JetStream's ack")
    max_backoff: float = setting(
        5.0, minimum=0.01, doc="longest wait between retries while NATS or PostgreSQL is down"
    )
    status_interval: float = setting(
        1.0, minimum=0.05, doc="seconds between reads of the slot's lag and health"
    )


@dataclass(frozen=True, kw_only=True)
class CaptureConfig(CaptureSettings):
    context: str = setting(doc="the bounded context whose tables are watched (e.g. order)")
    tables: tuple[str, ...] = setting(
        doc="TABLE=proto.Message pairs, comma-separated (orders=shop.order.changes.v1.OrderChanged)"
    )
    database_url: str = setting(
        doc="postgresql://ROLE@HOST:PORT/DB of the worker's own role (REPLICATION, no password)"
    )
    database_password: Secret | None = setting(None, doc="that role's password; use _FILE")
    database_schema: str = setting(doc="the schema holding the watched tables")
    nats_url: str = setting("nats://127.0.0.1:4222", doc="NATS server(s), comma-separated")
    tls_cert_path: Path | None = setting(None, doc="its mesh certificate, for a tls:// NATS")
    tls_key_path: Path | None = setting(None, doc="that certificate's key")
    tls_ca_path: Path | None = setting(None, doc="the mesh CA certificate")
    host: str = setting("127.0.0.1", doc="address the metrics endpoint listens on")
    metrics_port: int | None = setting(
        None, minimum=0, maximum=65535, doc="Prometheus /metrics port (the health check too)"
    )
    name: str = setting("cdc", doc="client name in NATS and application_name in PostgreSQL")
    log_level: str = setting("info", choices=("debug", "info", "warning", "error"))
    log_pretty: bool = setting(False, doc="human-readable logs instead of JSON lines")

    @property
    def tls(self) -> TlsFiles | None:
        """The worker's own certificate (identity `<context>-cdc`), when NATS takes mutual TLS."""
        return tls_files(self.tls_cert_path, self.tls_key_path, self.tls_ca_path)

    def table_messages(self) -> dict[str, str]:
        """table → full proto name of its change message; ValueError on a malformed pair."""
        pairs = {}
        for item in self.tables:
            table, sep, message = item.partition("=")
            if not sep or not table.strip() or "." not in message:
                raise ValueError(
                    f"CDC_TABLES: {item!r} is not TABLE=proto.Message "
                    "(e.g. orders=shop.order.changes.v1.OrderChanged)"
                )
            pairs[table.strip()] = message.strip()
        return pairs
