"""The embedded PostgreSQL 16 that ships in the `pgserver` wheel, served on TCP.

pgserver's own start-up listens on a Unix socket only (it passes `-h ""`), and
services, Envoy-era tooling and users' psql all expect host:port. So we use
its binaries but run `postgres` ourselves: on 127.0.0.1, with password
authentication for TCP, as a child we can signal by pid. When we are root
(containers, CI) PostgreSQL refuses to run, so like pgserver we run it as the
unprivileged `pgserver` system user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

SYSTEM_USER = "pgserver"
SUPERUSER = "postgres"
# Always on, so change capture (protomesh.cdc) works on any cluster we start:
# logical decoding needs wal_level=logical (set at start: it needs a restart),
# and a slot whose worker is gone may hold at most this much WAL before
# PostgreSQL invalidates it rather than fill the disk (docs/cdc.md).
SERVER_SETTINGS = {"wal_level": "logical", "max_slot_wal_keep_size": "1GB"}


def _pgserver_bin() -> Path:
    """Where the pgserver wheel keeps its binaries.

    Found without importing `pgserver`: its import creates runtime directories
    and warns when XDG_RUNTIME_DIR is unset, neither of which we need.
    """
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the pgserver package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _pgserver_bin()


class EmbeddedPostgresError(RuntimeError):
    pass


def _binary(name: str) -> str:
    return str(POSTGRES_BIN_PATH / name)


class EmbeddedPostgres:
    """One PostgreSQL data directory and the server process that serves it."""

    def __init__(
        self, data_dir: Path, port: int, host: str = "127.0.0.1", log_file: Path | None = None
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.host = host
        self.log_file = log_file or self.data_dir.parent / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def _run_as(self) -> str | None:
        return SYSTEM_USER if os.geteuid() == 0 else None

    def dsn(self, user: str = SUPERUSER, database: str = "postgres") -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{database}"

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def initialise(self, superuser_password: str) -> None:
        """Create the cluster once; TCP logins need the password (scram-sha-256)."""
        if self.is_initialised():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._grant_system_user_access()
        with tempfile.NamedTemporaryFile("w", dir=self.data_dir.parent, delete=False) as pwfile:
            pwfile.write(superuser_password)
        try:
            self._chown(Path(pwfile.name))
            self._run(
                [
                    _binary("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    "--pwfile",
                    pwfile.name,
                    "--auth-local=peer" if self._run_as is None else "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-instructions",
                ]
            )
        finally:
            os.unlink(pwfile.name)

    def start(self, timeout: float = 15.0, settings: dict[str, str] | None = None) -> int:
        """Start the server and wait until it accepts connections; returns its pid."""
        if not self.is_initialised():
            raise EmbeddedPostgresError(f"{self.data_dir} is not initialised")
        options = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": "",
            **SERVER_SETTINGS,
            **(settings or {}),
        }
        command = [_binary("postgres"), "-D", str(self.data_dir)]
        for key, value in options.items():
            command += ["-c", f"{key}={value}"]
        self.log_file.touch()
        self._chown(self.log_file)
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._identity(),
            )
        self._wait_ready(timeout)
        return self.process.pid

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedPostgresError(
                    f"postgres exited with {self.process.returncode}; see {self.log_file}:\n"
                    + self.log_file.read_text()[-2000:]
                )
            ready = subprocess.run(
                [_binary("pg_isready"), "-q", "-h", self.host, "-p", str(self.port), "-t", "1"],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.05)
        self.stop()
        raise EmbeddedPostgresError(f"postgres not ready on port {self.port} after {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGINT): roll back open transactions, checkpoint, exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGQUIT)
            self.process.wait(timeout)

    def _grant_system_user_access(self) -> None:
        """Let the unprivileged user reach the data directory and run the binaries."""
        if self._run_as is None:
            return
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True)
        # A checkout in a private folder (mktemp -d, /root) hides the venv's
        # binaries as much as the data: both paths must be traversable.
        for parent in {*self.data_dir.parents, *POSTGRES_BIN_PATH.parents}:
            mode = parent.stat().st_mode
            if mode & stat.S_IXOTH == 0:
                parent.chmod(mode | stat.S_IXOTH)
        self._chown(self.data_dir)
        self.data_dir.chmod(stat.S_IRWXU)
        for binary in POSTGRES_BIN_PATH.iterdir():
            binary.chmod(binary.stat().st_mode | stat.S_IXOTH | stat.S_IROTH)

    def _identity(self) -> dict[str, Any]:
        """subprocess arguments that drop root: the user, its group, and no root group."""
        if self._run_as is None:
            return {}
        entry = pwd.getpwnam(self._run_as)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _chown(self, path: Path) -> None:
        if self._run_as is None:
            return
        entry = pwd.getpwnam(self._run_as)
        os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, command: list[str]) -> None:
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, **self._identity()
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"{Path(command[0]).name} failed: {result.stderr.strip()}")
