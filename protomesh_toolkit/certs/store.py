"""Where issued certificates live on disk, and how a new set replaces the old one atomically.

The layout is the one Kubernetes uses for mounted secrets, because both of
our readers need to see a whole new set at once or not at all:

    certs/
      ca.key                  the CA's private key (0600); never handed to anything
      ..data -> ..v1764...    the current version, swapped by one rename
      ..v1764.../             ca.crt, user.crt, user.key (0600), edge.crt, ...
      ca.crt  -> ..data/ca.crt
      user.crt -> ..data/user.crt, user.key -> ..data/user.key, ...

Envoy watches the directory (SDS `watched_directory`) and reloads when
`..data` is replaced; services re-read the files on the next handshake when
they see them change. The previous version is kept, so a reader that
resolved `..data` just before a swap can still finish reading it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from protomesh_toolkit.certs.authority import KeyPair

DATA = "..data"
CA_KEY = "ca.key"
CA_CERT = "ca.crt"
PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600
PUBLIC_FILE = 0o644
KEPT_VERSIONS = 2


class CertStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def cert_path(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key_path(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    @property
    def ca_path(self) -> Path:
        return self.directory / CA_CERT

    @property
    def ca_key_path(self) -> Path:
        return self.directory / CA_KEY

    def read_root(self) -> KeyPair | None:
        if not (self.ca_key_path.exists() and self.ca_path.exists()):
            return None
        return KeyPair(self.ca_path.read_bytes(), self.ca_key_path.read_bytes())

    def read(self, name: str) -> KeyPair | None:
        try:
            return KeyPair(self.cert_path(name).read_bytes(), self.key_path(name).read_bytes())
        except FileNotFoundError:
            return None

    def names(self) -> list[str]:
        """Every leaf in the current version."""
        current = self.directory / DATA
        if not current.exists():
            return []
        return sorted(p.stem for p in current.glob("*.crt") if p.name != CA_CERT)

    def write(self, root: KeyPair, leaves: Mapping[str, KeyPair], *, new_root: bool) -> None:
        """Publish a complete new version: the CA certificate and every leaf, swapped in at once."""
        self.directory.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
        if new_root:
            _write_file(self.ca_key_path, root.private_key, PRIVATE_FILE)
        files = {CA_CERT: (root.certificate, PUBLIC_FILE)}
        for name, pair in leaves.items():
            files |= _leaf_files(name, pair)
        publish(self.directory, files)


def publish_identity(
    directory: Path, root: KeyPair, name: str, pair: KeyPair, owner: tuple[int, int] | None = None
) -> None:
    """One identity's own set (the CA certificate, its certificate and key) in `directory`.

    What a process of that identity mounts, and nothing else: no other key,
    no CA key. Same layout and atomic swap as the whole set, so readers
    reload it the same way. `owner` (uid, gid) hands the files to the
    process's user when the publisher runs as another (root in compose).
    """
    publish(directory, {CA_CERT: (root.certificate, PUBLIC_FILE), **_leaf_files(name, pair)}, owner)


def _leaf_files(name: str, pair: KeyPair) -> dict[str, tuple[bytes, int]]:
    return {
        f"{name}.crt": (pair.certificate, PUBLIC_FILE),
        f"{name}.key": (pair.private_key, PRIVATE_FILE),
    }


def publish(
    directory: Path,
    files: Mapping[str, tuple[bytes, int]],
    owner: tuple[int, int] | None = None,
) -> None:
    """Write `files` (name → content, mode) as a new version and swap `..data` to it."""
    directory.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
    version = f"..v{time.time_ns()}"
    staging = directory / f"..staging-{version[3:]}"
    staging.mkdir(mode=PRIVATE_DIRECTORY)
    for file_name, (data, mode) in files.items():
        _write_file(staging / file_name, data, mode)
    if owner is not None:
        for path in [staging, *staging.iterdir()]:
            os.chown(path, *owner)
    staging.rename(directory / version)
    link = directory / f"..data-{version[3:]}"
    link.symlink_to(version)
    if owner is not None:
        os.chown(link, *owner, follow_symlinks=False)
    os.replace(link, directory / DATA)
    for file_name in files:
        entry = directory / file_name
        if not entry.is_symlink():
            entry.symlink_to(f"{DATA}/{file_name}")
    _prune(directory, version)


def _prune(directory: Path, current: str) -> None:
    versions = sorted((p for p in directory.glob("..v*") if p.is_dir()), key=lambda p: p.name)
    for old in versions[:-KEPT_VERSIONS]:
        if old.name == current:
            continue
        for file in old.iterdir():
            file.unlink()
        old.rmdir()


def _write_file(path: Path, data: bytes, mode: int) -> None:
    """Created with its final mode: a key is never readable by others, not even briefly."""
    scratch = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.chmod(scratch, mode)
    os.replace(scratch, path)
