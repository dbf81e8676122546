"""Run a service as a real process, as the cluster would, and stop it by pid."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from protomesh.paths import ROOT
from tests.support import mesh_tls
from tests.support.grpc_calls import health
from tests.support.ports import free_port
from tests.support.postgres import Postgres


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_file: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    secrets_shown: list[str] = field(default_factory=list)
    # Where `python -m services.<name>` runs: a mutated copy of the checkout runs its own code.
    cwd: Path = ROOT

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.wait_for_health("SERVING", timeout)
        except BaseException:
            self.kill()
            raise

    def health(self) -> str:
        return health(self.address)

    def wait_for_health(self, wanted: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.process.returncode}:\n{self.log()}")
            try:
                last = self.health()
                if last == wanted:
                    return
            except grpc.RpcError as error:
                last = str(error.code())
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} health is {last}, wanted {wanted}:\n{self.log()[-3000:]}")

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit code (killing the group if it hangs)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""


def user_service(postgres: Postgres, directory: Path, **overrides: str) -> ServiceProcess:
    """A user service with its own role and schema, so tests never share data."""
    suffix = secrets.token_hex(3)
    role, schema = f"user_svc_{suffix}", f"users_{suffix}"
    password_file = directory / f"{role}_password"
    role_password = secrets.token_urlsafe(16)
    password_file.write_text(role_password)
    postgres.provision(role, role_password, schema)  # the service gets no admin secret
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("USER_SERVICE_")},
        "USER_SERVICE_PORT": str(port),
        "USER_SERVICE_DATABASE_URL": postgres.dsn_for(role),
        "USER_SERVICE_DATABASE_PASSWORD_FILE": str(password_file),
        "USER_SERVICE_DATABASE_SCHEMA": schema,
        "USER_SERVICE_READINESS_INTERVAL": "0.1",
        **mesh_tls.service_environment("USER_SERVICE_"),
        **{f"USER_SERVICE_{k.upper()}": v for k, v in overrides.items()},
    }
    service = ServiceProcess("user", port, directory / f"user-{suffix}.log", env)
    service.secrets_shown = [role_password]
    return service
