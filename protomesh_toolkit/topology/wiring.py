"""What a service is told about itself and its dependencies, in any environment.

One function builds a service's settings for the local cluster, compose and
Kubernetes alike; only the addresses and where secret files are mounted
differ. So the three topologies cannot disagree about which settings exist:
a service that works under `protomesh up` gets the same keys in a container.
Secrets travel as *paths* of files (`*_FILE`), never as values, and a
service gets only its own role's password: the admin's goes to the one-shot
provisioning step alone (`provision_command`). So do the service's
certificate and key (`TLS_*_PATH`) and the registry whose `callers` it
enforces (`MESH_FILE`). Telemetry rides along: the OTLP collector of the
environment (`OTLP_ENDPOINT`, `TRACE_SAMPLE_RATE`) when it has one, and the
replica's Prometheus port (`METRICS_PORT`) when the registry names one, a
replicated service's `SHUTDOWN_DELAY` (zero failed requests in a rolling restart),
and how many server processes a replica runs (`WORKERS`, mesh.yaml's `workers:`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from gateway.upstreams import HEALTH_CHECK
from protomesh.registry import ChangeCapture, Mesh, Service
from protomesh.registry.model import host_of
from protomesh.registry.workers import workers_setting
from protomesh_toolkit.topology.images import SECRETS_DIR

ADMIN_PASSWORD = "postgres_admin_password"  # the PostgreSQL superuser's password file
ADMIN_ROLE = "postgres"
DATABASE = "postgres"  # the database every service's schema lives in


def database_password(service: Service) -> str:
    """The name of a service's role password file (one per service, shared by its replicas)."""
    return f"{service.name}_db_password"


def _seconds(duration: object) -> float:
    return float(str(duration).removesuffix("s"))


# How long a replica of a replicated service keeps serving after SIGTERM while it says
# NOT_SERVING: long enough for the edge's health checks to fail it out (an interval per
# failed check it needs, plus the last check's timeout) before it stops taking calls, so a
# rolling restart fails no request. The mesh's own clients watch health and move at once.
SHUTDOWN_DELAY = _seconds(HEALTH_CHECK["interval"]) * int(
    str(HEALTH_CHECK["unhealthy_threshold"])
) + _seconds(HEALTH_CHECK["timeout"])


@dataclass(frozen=True)
class Wiring:
    """How services reach the shared parts in one environment.

    `secret_file` maps a secret's name to the path the service reads it from
    (the local cluster's run directory, or /run/secrets in a container).
    `certs_dir` is where `protomesh certs` published the mesh's certificates
    as this environment sees them (`.run/certs`, or `/certs` in a container);
    None only when the whole mesh runs with PROTOMESH_INSECURE=1.
    `otlp_endpoint` is where services send traces (None: tracing off), kept
    at `sample_rate` for new traces.
    """

    listen_host: str
    postgres: str | None  # host:port
    nats: str | None  # host:port
    smtp: str | None  # host:port
    secret_file: Callable[[str], str]
    mesh_file: str
    certs_dir: str | None
    otlp_endpoint: str | None = None
    sample_rate: float = 1.0
    environment: str | None = None  # which replicas run side by side (see `SHUTDOWN_DELAY`)

    @classmethod
    def of(
        cls,
        mesh: Mesh,
        environment: str,
        listen_host: str,
        secret_file: Callable[[str], str],
        *,
        mesh_file: str,
        certs_dir: str | None,
        otlp_endpoint: str | None = None,
    ) -> Wiring:
        """`otlp_endpoint` overrides the registry's `telemetry.otlp_endpoint` for the
        environment (the local cluster's own receiver under `up --otlp`)."""

        def address(name: str) -> str | None:
            part = mesh.infrastructure.get(name)
            if part is None:
                return None
            return f"{host_of(environment, name)}:{part.ports[environment]}"

        return cls(
            listen_host,
            address("postgres"),
            address("nats"),
            address("smtp"),
            secret_file,
            mesh_file,
            certs_dir,
            otlp_endpoint or mesh.telemetry.otlp_endpoints.get(environment),
            mesh.telemetry.sample_rate,
            environment,
        )

    def tls_paths(self, identity: str) -> dict[str, str] | None:
        """The certificate, key and CA files of `identity`, by setting name; None without TLS.

        The names `protomesh certs` gives them (`<identity>.crt`, ...), so the
        same function serves a service's settings and its health check.
        """
        if self.certs_dir is None:
            return None
        directory = PurePosixPath(self.certs_dir)
        return {
            "TLS_CERT_PATH": str(directory / f"{identity}.crt"),
            "TLS_KEY_PATH": str(directory / f"{identity}.key"),
            "TLS_CA_PATH": str(directory / "ca.crt"),
        }


def dsn(address: str, role: str) -> str:
    """A password-less DSN; the password comes from a file beside it."""
    return f"postgresql://{role}@{address}/{DATABASE}"


def service_settings(
    service: Service, port: int, wiring: Wiring, *, metrics_port: int | None = None
) -> dict[str, str]:
    """Every setting the registry decides for one replica, with the service's env prefix."""
    settings = {"HOST": wiring.listen_host, "PORT": str(port), "MESH_FILE": wiring.mesh_file}
    settings |= wiring.tls_paths(service.name) or {}
    database = service.database
    if database is not None and wiring.postgres is not None:
        settings |= {
            "DATABASE_URL": dsn(wiring.postgres, database.role),
            "DATABASE_PASSWORD_FILE": wiring.secret_file(database_password(service)),
            "DATABASE_SCHEMA": database.schema,
        }
    if "nats" in service.depends_on and wiring.nats is not None:
        # Over mutual TLS with the service's own certificate whenever the mesh has TLS.
        scheme = "nats" if wiring.certs_dir is None else "tls"
        settings["NATS_URL"] = f"{scheme}://{wiring.nats}"
    if "smtp" in service.depends_on and wiring.smtp is not None:
        smtp_host, smtp_port = wiring.smtp.rsplit(":", 1)
        settings |= {"SMTP_HOST": smtp_host, "SMTP_PORT": smtp_port}
    if wiring.otlp_endpoint is not None:
        settings["OTLP_ENDPOINT"] = wiring.otlp_endpoint
        settings["TRACE_SAMPLE_RATE"] = str(wiring.sample_rate)
    if metrics_port is not None:
        settings["METRICS_PORT"] = str(metrics_port)
    if wiring.environment is not None and len(service.replicas_in(wiring.environment)) > 1:
        settings["SHUTDOWN_DELAY"] = f"{SHUTDOWN_DELAY:g}"
    if wiring.environment is not None and wiring.environment in service.workers:
        settings["WORKERS"] = workers_setting(service.workers[wiring.environment])
    return {f"{service.env_prefix}{key}": value for key, value in settings.items()}


def health_command(service: Service, port: int, wiring: Wiring) -> list[str]:
    """The container healthcheck (compose) and exec probe (Kubernetes) of one replica.

    `python -m protomesh.healthcheck` over mTLS with the service's own
    certificate: a service takes no plaintext, and the kubelet's native gRPC
    probe cannot present a client certificate.
    """
    command = ["python", "-m", "protomesh.healthcheck"]
    tls = wiring.tls_paths(service.name)
    if tls is not None:
        command += ["--cert", tls["TLS_CERT_PATH"], "--key", tls["TLS_KEY_PATH"]]
        command += ["--ca", tls["TLS_CA_PATH"], "--server-name", service.name]
    return [*command, f"127.0.0.1:{port}"]


def provision_command(environment: str) -> list[str]:
    """The one-shot job that makes every service's role and schema (compose, Kubernetes).

    It alone mounts the admin password, beside every service's role password.
    """
    command = ["protomesh", "db", "provision", "--environment", environment]
    return [*command, "--secrets-dir", SECRETS_DIR]


def provision_secrets(mesh: Mesh) -> list[str]:
    """What the provisioning job reads: the admin password and every service role's."""
    roles = [database_password(s) for s in mesh.services.values() if s.database is not None]
    return [ADMIN_PASSWORD, *roles]


def cdc_setup_command(environment: str) -> list[str]:
    """The one-shot job that makes each CDC worker's role, grants, publication and slot.

    It needs the watched tables, so it runs once their service has migrated,
    and before the worker; like `provision_command`, it holds the admin password.
    """
    command = ["protomesh", "db", "provision", "--cdc", "--environment", environment]
    return [*command, "--secrets-dir", SECRETS_DIR]


def cdc_setup_secrets(capture: ChangeCapture) -> list[str]:
    """What a CDC set-up job reads: the admin password and the worker role's."""
    return [ADMIN_PASSWORD, cdc_password(capture)]


def cdc_password(capture: ChangeCapture) -> str:
    """The name of a CDC worker's role password file."""
    return f"{capture.service}_cdc_db_password"


def cdc_settings(
    capture: ChangeCapture, service: Service, wiring: Wiring, *, metrics_port: int
) -> dict[str, str]:
    """A change-capture worker's settings (`CDC_*`), in any environment.

    Its own role's password only: the role, grants, publication and slot are
    made by `cdc_setup_command`, which alone holds the admin's (docs/cdc.md).
    NATS over mutual TLS with its own certificate (`cdc_identity`).
    """
    assert service.database is not None  # the registry checks it
    settings = {
        "CONTEXT": capture.service,
        "TABLES": ",".join(f"{table}={message}" for table, message in capture.tables.items()),
        "DATABASE_SCHEMA": service.database.schema,
        "HOST": wiring.listen_host,
        "METRICS_PORT": str(metrics_port),
        "NAME": capture.name,
    }
    if wiring.postgres is not None:
        settings |= {
            "DATABASE_URL": dsn(wiring.postgres, capture.role),
            "DATABASE_PASSWORD_FILE": wiring.secret_file(cdc_password(capture)),
        }
    if wiring.nats is not None:
        scheme = "nats" if wiring.certs_dir is None else "tls"
        settings["NATS_URL"] = f"{scheme}://{wiring.nats}"
    settings |= wiring.tls_paths(capture.name) or {}
    return {f"CDC_{key}": value for key, value in settings.items()}


def cdc_health_command(metrics_port: int) -> list[str]:
    """The container healthcheck of a CDC worker: it has read its slot (the lag gauge is out)."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    check = (
        "import sys, urllib.request; "
        f"body = urllib.request.urlopen('{url}', timeout=3).read(); "
        "sys.exit(0 if b'cdc_slot_lag_bytes{' in body else 1)"
    )
    return ["python", "-c", check]
