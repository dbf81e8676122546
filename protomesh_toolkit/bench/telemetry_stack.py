"""What the telemetry benchmark runs: one PostgreSQL, one OTLP receiver, one user service per mode.

Each mode is the same `python -m services.user` on the same schema and
pool size, differing only in its telemetry settings, so the runs compare
telemetry and nothing else. Every process is stopped by pid when the
benchmark ends, whatever happens.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from protomesh import healthcheck
from protomesh_toolkit.bench.processes import HOST, START_TIMEOUT, BenchProcess, free_port
from protomesh_toolkit.bench.stack import (
    PLAINTEXT,
    ROLE,
    SCHEMA,
    _seed,
    prefixed_environment,
    provision_role,
    secret_file,
)
from protomesh_toolkit.embedded.postgres import EmbeddedPostgres


@dataclass(frozen=True)
class Services:
    user_id: str  # the one row every request reads
    addresses: dict[str, str]  # mode → host:port of its user service
    pids: dict[str, int]  # mode → its process id, to read the CPU time it used
    spans_file: Path  # what the receiver stored


@contextlib.contextmanager
def running_services(modes: Mapping[str, Mapping[str, str]], pool_size: int) -> Iterator[Services]:
    """A user service per mode, each with its extra `USER_SERVICE_*` settings."""
    with contextlib.ExitStack() as cleanup:
        directory = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="pm-bench-")))
        postgres = EmbeddedPostgres(directory / "pgdata", free_port(), host=HOST)
        admin_password = secret_file(directory / "admin_password")
        postgres.initialise(admin_password.read_text())
        postgres.start(START_TIMEOUT)
        cleanup.callback(postgres.stop)
        receiver_port = free_port()
        spans_file = directory / "spans.jsonl"
        receiver = BenchProcess(
            "OTLP receiver",
            [
                sys.executable,
                "-m",
                "protomesh_toolkit.traces.receiver",
                f"--port={receiver_port}",
                f"--out={spans_file}",
            ],
            directory / "receiver.log",
            prefixed_environment("", {}),
        )
        cleanup.callback(receiver.stop)
        receiver.wait_until(lambda: "OTLP receiver on" in receiver.tail(), START_TIMEOUT)
        role_password = secret_file(directory / "role_password")
        provision_role(postgres, admin_password, ROLE, role_password, SCHEMA)
        addresses: dict[str, str] = {}
        pids: dict[str, int] = {}
        for mode, extra in modes.items():
            port = free_port()
            settings = {
                "PORT": str(port),
                "DATABASE_URL": postgres.dsn(user=ROLE),
                "DATABASE_PASSWORD_FILE": str(role_password),
                "DATABASE_SCHEMA": SCHEMA,
                "POOL_MIN_SIZE": str(pool_size),
                "POOL_MAX_SIZE": str(pool_size),
                "LOG_LEVEL": "warning",
                **{k: v.format(receiver=f"{HOST}:{receiver_port}") for k, v in extra.items()},
            }
            service = BenchProcess(
                f"user service ({mode})",
                [sys.executable, "-m", "services.user"],
                directory / f"user-{len(addresses)}.log",
                # Plaintext, as the edge benchmark: this one measures telemetry alone.
                PLAINTEXT | prefixed_environment("USER_SERVICE_", settings),
            )
            cleanup.callback(service.stop)
            address = f"{HOST}:{port}"
            service.wait_until(functools.partial(healthcheck.serving, address, 1.0), START_TIMEOUT)
            addresses[mode], pids[mode] = address, service.pid
        user_id = _seed(next(iter(addresses.values())))
        yield Services(user_id, addresses, pids, spans_file)
