"""The shared parts in containers: PostgreSQL, NATS, the mail sink, the payment sandbox, tracing."""

from __future__ import annotations

from typing import Any

from protomesh.registry import Infrastructure
from protomesh_toolkit.embedded.nats_auth import SERVER_IDENTITY
from protomesh_toolkit.topology import images
from protomesh_toolkit.topology.compose.parts import (
    BACKEND,
    COMPLETED,
    ENVIRONMENT,
    NATS_CONFIG,
    NATS_CONFIG_PATH,
    PUBLIC,
    RESTART,
    app,
    healthcheck,
    identity_volume,
)
from protomesh_toolkit.topology.wiring import ADMIN_PASSWORD


def infrastructure(part: Infrastructure) -> dict[str, Any]:
    port = part.ports[ENVIRONMENT]
    if part.name == "payments":
        return _payment_sandbox(port)
    if part.name == "postgres":
        return {
            "image": images.POSTGRES,
            # Logical decoding for change capture, and a bound on the WAL a slot
            # whose worker is away may hold (docs/cdc.md).
            "command": [
                "postgres",
                *("-c", f"port={port}", "-c", "wal_level=logical"),
                *("-c", "max_slot_wal_keep_size=1GB"),
            ],
            "environment": {
                "POSTGRES_USER": "postgres",
                "POSTGRES_PASSWORD_FILE": f"{images.SECRETS_DIR}/{ADMIN_PASSWORD}",
            },
            "secrets": [ADMIN_PASSWORD],
            "volumes": ["postgres-data:/var/lib/postgresql/data"],
            "restart": RESTART,
            "healthcheck": healthcheck(
                ["pg_isready", "-U", "postgres", "-h", "127.0.0.1", "-p", str(port)]
            ),
            "networks": [BACKEND],
        }
    if part.name == "smtp":
        return _mail_sink(port)
    monitor = part.monitor_ports[ENVIRONMENT]
    health_url = f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true"
    # Mutual TLS only, a user per identity (NATS_CONFIG, rendered from mesh.yaml beside this).
    return {
        "image": images.NATS,
        "command": ["-c", NATS_CONFIG_PATH],
        "volumes": [
            "nats-data:/data",
            f"{identity_volume(SERVER_IDENTITY)}:{images.CERTS_DIR}:ro",
            f"./{NATS_CONFIG}:{NATS_CONFIG_PATH}:ro",
        ],
        "depends_on": {"certs": COMPLETED},
        "restart": RESTART,
        "healthcheck": healthcheck(["wget", "-q", "-O", "/dev/null", health_url]),
        "networks": [BACKEND],
    }


def _payment_sandbox(port: int) -> dict[str, Any]:
    """The external payment provider's stand-in, on the backend network only."""
    probe = f"import urllib.request as u; u.urlopen('http://127.0.0.1:{port}/health', timeout=2)"
    return {
        **app(
            [
                "python",
                "-m",
                "protomesh_toolkit.payment_sandbox",
                "--host=0.0.0.0",
                f"--port={port}",
            ],
            images.TOOLKIT,
        ),
        "healthcheck": healthcheck(["python", "-c", probe], start_period="10s"),
        "networks": [BACKEND],
    }


def _mail_sink(port: int) -> dict[str, Any]:
    """The toolkit's mail sink: compose is a local stack, so mail stays inside it
    (`docker compose exec smtp protomesh mail --dir /mail`). Kubernetes gets no sink: there
    USER_SERVICE_SMTP_HOST names a real relay (docs/deployment.md)."""
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), 2).close()"
    return {
        **app(
            ["python", "-m", "protomesh_toolkit.mail.sink", *_sink_arguments(port)],
            images.TOOLKIT,
        ),
        "volumes": ["mail:/mail"],
        "healthcheck": healthcheck(["python", "-c", probe]),
        "networks": [BACKEND],
    }


def _sink_arguments(port: int) -> list[str]:
    """All interfaces, inside the backend network only; messages on the `mail` volume."""
    return ["--host", "0.0.0.0", "--port", str(port), "--out", "/mail"]


def observability() -> dict[str, Any]:
    """The tracing slot: an OpenTelemetry collector (config in deploy/otel/) and Jaeger.

    Both images are distroless (no shell to run a healthcheck in), so nothing
    waits on them: services and Envoy keep serving, and drop spans, while they are down.
    """
    return {
        "otel-collector": {
            "image": images.OTEL_COLLECTOR,
            "command": ["--config=/etc/otelcol/config.yaml"],
            "volumes": ["./deploy/otel/collector.yaml:/etc/otelcol/config.yaml:ro"],
            "depends_on": {"jaeger": {"condition": "service_started"}},
            "networks": [BACKEND],
        },
        "jaeger": {
            "image": images.JAEGER,
            "environment": {"COLLECTOR_OTLP_ENABLED": "true"},
            "ports": ["127.0.0.1:16686:16686"],  # the trace UI
            "networks": [BACKEND, PUBLIC],
        },
    }
