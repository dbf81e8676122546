"""Where one local cluster keeps its data, secrets, logs and state.

Everything lives under one run directory (`.run` in the checkout, or
$PROTOMESH_RUN_DIR), so a second cluster runs side by side with its own copy
of everything, and `down --purge` deletes exactly one directory. A marker file
says protomesh made that directory: `up` will not scatter files into a
directory full of someone else's, and `--purge` will not delete one.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from protomesh.paths import RUN_DIR
from protomesh.registry import DEFAULT_MESH_FILE
from protomesh_toolkit.errors import ClusterError

RUN_DIR_VARIABLE = "PROTOMESH_RUN_DIR"
MESH_FILE_VARIABLE = "PROTOMESH_MESH_FILE"
MARKER = ".protomesh-run"
PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600


@dataclass(frozen=True)
class Layout:
    run_dir: Path
    mesh_file: Path

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Layout:
        env = os.environ if env is None else env
        run_dir = Path(env.get(RUN_DIR_VARIABLE) or RUN_DIR)
        mesh_file = Path(env.get(MESH_FILE_VARIABLE) or DEFAULT_MESH_FILE)
        return cls(run_dir.resolve(), mesh_file.resolve())

    @property
    def state_file(self) -> Path:
        return self.run_dir / "cluster.json"

    @property
    def lock_file(self) -> Path:
        return self.run_dir / "cluster.lock"

    @property
    def supervisor_file(self) -> Path:
        """The supervisor `up` leaves behind: its pid, to stop it before anything else."""
        return self.run_dir / "supervisor.json"

    @property
    def supervisor_lock(self) -> Path:
        """Held by the running supervisor for its lifetime: there is never a second one."""
        return self.run_dir / "supervisor.lock"

    @property
    def postgres_data(self) -> Path:
        return self.run_dir / "postgres" / "data"

    @property
    def nats_store(self) -> Path:
        """NATS's JetStream store: streams, consumers and their dedupe state."""
        return self.run_dir / "nats"

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def secrets_dir(self) -> Path:
        return self.run_dir / "secrets"

    @property
    def envoy_dir(self) -> Path:
        """What the edge's Envoy runs on: its rendered config, descriptor set and JWKS."""
        return self.run_dir / "envoy"

    @property
    def certs_dir(self) -> Path:
        """The mesh's CA and certificates (`protomesh certs`), published as one set."""
        return self.run_dir / "certs"

    @property
    def bytecode_dir(self) -> Path:
        """Compiled modules of the cluster's Python processes, when the shell says not to
        write them beside the sources (`cluster/bytecode.py`)."""
        return self.run_dir / "pycache"

    @property
    def mail_dir(self) -> Path:
        """Messages the local mail sink received, one JSON file each (`protomesh mail`)."""
        return self.run_dir / "mail"

    @property
    def traces_file(self) -> Path:
        """Spans the local OTLP receiver stored (`protomesh up --otlp`), one JSON line each."""
        return self.run_dir / "traces" / "spans.jsonl"

    @property
    def issuer_key(self) -> Path:
        """The dev JWT issuer's private key (its public half is in envoy_dir)."""
        return self.secret("jwt_issuer.pem")

    def log(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def secret(self, name: str) -> Path:
        return self.secrets_dir / name

    def prepare(self) -> None:
        """Create the run directory (private) with its logs/ and secrets/ folders.

        Only new folders get mode 0700: as root, pgserver later opens the run
        directory's execute bit to its own user, and that must stay.
        """
        marker = self.run_dir / MARKER
        if not marker.exists():
            if self.run_dir.is_dir() and any(self.run_dir.iterdir()) and self.run_dir != RUN_DIR:
                raise ClusterError(
                    f"{shown(self.run_dir)} is not empty and was not made by protomesh; "
                    f"set {RUN_DIR_VARIABLE} to a new or empty directory"
                )
            self.run_dir.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
            marker.touch()
        for folder in (self.logs_dir, self.secrets_dir):
            folder.mkdir(mode=PRIVATE_DIRECTORY, exist_ok=True)
        self.secrets_dir.chmod(PRIVATE_DIRECTORY)

    def ensure_secret(self, name: str) -> Path:
        """A random password in a 0600 file: made on first use, kept (and reused) after."""
        path = self.secret(name)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        except FileExistsError:
            path.chmod(PRIVATE_FILE)
            return path
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(24))
        return path

    def purge(self) -> bool:
        """Delete the run directory; False when there was none."""
        if not self.run_dir.exists():
            return False
        if not (self.run_dir / MARKER).exists():
            raise ClusterError(
                f"refusing to delete {shown(self.run_dir)}: protomesh did not make it "
                f"(no {MARKER} file in it)"
            )
        shutil.rmtree(self.run_dir)
        return True


def shown(path: Path) -> str:
    """A path as the user would type it: relative when it is under the current directory."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
