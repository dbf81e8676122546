"""Everything the edge benchmark measures, started fresh in a scratch directory.

One embedded PostgreSQL; the real user service (`python -m services.user`);
the FastAPI baseline reading the same schema as the same role with the same
pool size; and, when the gateway can render a config, Envoy in front of the
user service. Each is a process of its own on a free loopback port, stopped
by pid when the benchmark ends, whatever happens.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from shop.user.v1 import user_pb2, user_pb2_grpc

from protomesh import healthcheck
from protomesh.config import Secret
from protomesh_toolkit.bench.processes import (
    HOST,
    START_TIMEOUT,
    BenchProcess,
    family,
    free_port,
    http_status,
    listening,
)
from protomesh_toolkit.db.provision import ServiceRole, provision
from protomesh_toolkit.embedded.postgres import EmbeddedPostgres

ROLE, SCHEMA = "bench_user", "bench_users"
# The edge benchmark compares stacks as issue 4 measured them, without TLS;
# `python -m protomesh_toolkit.bench.mtls` measures what mTLS and authorization cost.
PLAINTEXT = {"PROTOMESH_INSECURE": "1"}


@dataclass(frozen=True)
class Stack:
    user_id: str  # the one row every request reads
    grpc_address: str  # host:port of the user service
    baseline_url: str  # http://host:port of the FastAPI baseline
    rest_url: str | None  # http://host:port of Envoy, when it runs
    directory: Path
    user_pid: int  # the Python servers, for their CPU time per request
    baseline_pid: int
    user_options: UserServiceOptions  # to start more user services on the same data


@contextlib.contextmanager
def running_stack(
    *, pool_size: int, access_log: bool, envoy: bool, workers: int = 1
) -> Iterator[Stack]:
    """`workers`: server processes of the user service, and uvicorn workers of the baseline
    (each process with its own pool of `pool_size`)."""
    with contextlib.ExitStack() as cleanup:
        directory = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="pm-bench-")))
        postgres = EmbeddedPostgres(directory / "pgdata", free_port(), host=HOST)
        admin_password = secret_file(directory / "admin_password")
        postgres.initialise(admin_password.read_text())
        postgres.start(START_TIMEOUT)
        cleanup.callback(postgres.stop)
        role_password = secret_file(directory / "role_password")
        provision_role(postgres, admin_password, ROLE, role_password, SCHEMA)
        database = {
            "DATABASE_URL": postgres.dsn(user=ROLE),
            "DATABASE_PASSWORD_FILE": str(role_password),
            "DATABASE_SCHEMA": SCHEMA,
        }
        port = free_port()
        options = UserServiceOptions(database, pool_size, access_log)
        user = start_user_service(cleanup, directory, port, options, workers=workers)
        grpc_address = f"{HOST}:{port}"
        user_id = _seed(grpc_address)
        baseline_url, baseline_pid = _start_baseline(
            cleanup,
            directory,
            database,
            pool_size=pool_size,
            access_log=access_log,
            workers=workers,
        )
        rest_url = None
        if envoy:
            from protomesh_toolkit.bench.edge_proxy import EdgeUnavailable, start_envoy

            try:
                rest_url = start_envoy(cleanup, directory, grpc_address, user_id)
            except EdgeUnavailable as error:
                print(f"  no Envoy: {error}", flush=True)
        yield Stack(
            user_id,
            grpc_address,
            baseline_url,
            rest_url,
            directory,
            user.pid,
            baseline_pid,
            options,
        )


@dataclass(frozen=True)
class UserServiceOptions:
    """What every user service of one stack shares: its database, pool size and logging."""

    database: dict[str, str]
    pool_size: int
    access_log: bool


def start_user_service(
    cleanup: contextlib.ExitStack,
    directory: Path,
    port: int,
    options: UserServiceOptions,
    *,
    workers: int,
) -> BenchProcess:
    """`python -m services.user` on `port`, plaintext; returns once all its server
    processes listen (a replica is SERVING as soon as one of them is)."""
    user = BenchProcess(
        f"user service on {port}",
        [sys.executable, "-m", "services.user"],
        directory / f"user-{port}.log",
        PLAINTEXT
        | prefixed_environment(
            "USER_SERVICE_",
            {
                **options.database,
                "PORT": str(port),
                "POOL_MIN_SIZE": str(options.pool_size),
                "POOL_MAX_SIZE": str(options.pool_size),
                "WORKERS": str(workers),
                # Per-request logging is on or off in both servers alike.
                "LOG_LEVEL": "info" if options.access_log else "warning",
            },
        ),
    )
    cleanup.callback(user.stop)
    address = f"{HOST}:{port}"
    user.wait_until(functools.partial(healthcheck.serving, address, 1.0), START_TIMEOUT)
    user.wait_until(lambda: len(listening(family(user.pid), port)) == workers, START_TIMEOUT)
    return user


def _start_baseline(
    cleanup: contextlib.ExitStack,
    directory: Path,
    database: dict[str, str],
    *,
    pool_size: int,
    access_log: bool,
    workers: int,
) -> tuple[str, int]:
    port = free_port()
    baseline = BenchProcess(
        "FastAPI baseline",
        [sys.executable, "-m", "protomesh_toolkit.bench.baseline_app"],
        directory / "baseline.log",
        prefixed_environment(
            "BENCH_BASELINE_",
            {
                **database,
                "PORT": str(port),
                "POOL_SIZE": str(pool_size),
                "ACCESS_LOG": "1" if access_log else "",
                "WORKERS": str(workers),
            },
        ),
    )
    cleanup.callback(baseline.stop)
    url = f"http://{HOST}:{port}"
    baseline.wait_until(lambda: http_status(f"{url}/v1/users/{_NO_SUCH_USER}") == 404, 30)
    return url, baseline.pid


_NO_SUCH_USER = "00000000-0000-0000-0000-000000000000"


def provision_role(
    postgres: EmbeddedPostgres, admin_password: Path, role: str, password: Path, schema: str
) -> None:
    """The role and schema, made as the admin before the service starts (as `up` does)."""
    own = ServiceRole(role, Secret(password.read_text()), schema)
    provision(postgres.dsn(), Secret(admin_password.read_text()), [own])


def secret_file(path: Path) -> Path:
    path.write_text(secrets.token_urlsafe(16))
    path.chmod(0o600)
    return path


def prefixed_environment(prefix: str, settings: dict[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(prefix)}
    return {**inherited, **{prefix + key: value for key, value in settings.items()}}


def _seed(address: str) -> str:
    with grpc.insecure_channel(address) as channel:
        created = user_pb2_grpc.UserServiceStub(channel).CreateUser(
            user_pb2.CreateUserRequest(email="bench@example.com", display_name="Bench Mark"),
            timeout=10,
        )
    return created.user.user_id
