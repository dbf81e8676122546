"""Settings every gRPC service shares; a service's config class extends these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from protomesh.config import setting
from protomesh.registry import DEFAULT_MESH_FILE
from protomesh.tls.files import TlsFiles, tls_files


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    host: str = setting("127.0.0.1", doc="address to listen on")
    port: int = setting(minimum=0, maximum=65535, doc="gRPC port; 0 picks a free one")
    grace_period: float = setting(
        10.0, minimum=0, doc="seconds in-flight calls get to finish after SIGTERM"
    )
    shutdown_delay: float = setting(
        0.0,
        minimum=0,
        doc="seconds to keep serving while NOT_SERVING, so load balancers notice first",
    )
    default_timeout: float = setting(
        30.0, minimum=0.001, doc="budget for calls that arrive without a deadline"
    )
    readiness_interval: float = setting(1.0, minimum=0.05, doc="seconds between dependency checks")
    log_level: str = setting("info", choices=("debug", "info", "warning", "error"))
    log_pretty: bool = setting(False, doc="human-readable logs instead of JSON lines")
    mesh_file: Path = setting(
        DEFAULT_MESH_FILE, doc="the registry; its `callers` say who may call this service"
    )
    tls_cert_path: Path | None = setting(
        None, doc="this service's certificate (PEM); with the key and CA, turns on mTLS"
    )
    tls_key_path: Path | None = setting(None, doc="its private key (PEM, mode 0600)")
    tls_ca_path: Path | None = setting(None, doc="the mesh CA that signs every caller")

    @property
    def tls(self) -> TlsFiles | None:
        """The service's TLS identity; None when no files are set (TlsConfigurationError
        when only some are)."""
        return tls_files(self.tls_cert_path, self.tls_key_path, self.tls_ca_path)

    otlp_endpoint: str | None = setting(
        None,
        doc="host:port of an OTLP/gRPC trace collector; unset (and no "
        "OTEL_EXPORTER_OTLP_ENDPOINT) turns tracing off",
    )
    trace_sample_rate: float = setting(
        1.0, minimum=0.0, maximum=1.0, doc="share of new traces kept; callers' decisions win"
    )
    metrics_port: int | None = setting(
        None, minimum=0, maximum=65535, doc="Prometheus /metrics port; unset turns it off"
    )
    workers: str = setting(
        "1",
        doc="server processes of this replica, sharing its port: a number, or auto for one "
        "per core (protomesh.processes)",
    )
