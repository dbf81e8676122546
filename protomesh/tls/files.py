"""A process's TLS identity as files, and the mesh-wide switch that turns TLS off.

TLS is on by default everywhere. `PROTOMESH_INSECURE=1` turns it off for the
whole mesh at once (the local cluster passes it to every service and renders
Envoy without upstream TLS); there is no per-hop switch, because a mesh where
one hop is plaintext has no verified caller identities at all. Whoever honours
the switch says so loudly in its log.

The switch changes how calls travel, never who is trusted: without TLS no
caller can be identified, so no forwarded end user is believed and no call
counts as internal (`protomesh/interceptors/authorization.py`), and a server
refuses to listen anywhere but on loopback (`require_loopback`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

INSECURE_VARIABLE = "PROTOMESH_INSECURE"
READ_ATTEMPTS = 3
INSECURE_WARNING = (
    "!!! PROTOMESH_INSECURE=1: mTLS is OFF for the whole mesh — plaintext on every internal "
    "hop and no caller identities, so per-RPC authorization is not enforced. "
    "Development only; never run it like this anywhere else. !!!"
)


class TlsConfigurationError(Exception):
    """TLS is required but this process was given no (or incomplete) certificate files."""


def insecure(env: Mapping[str, str] | None = None) -> bool:
    """Whether the mesh-wide development switch is on."""
    value = (os.environ if env is None else env).get(INSECURE_VARIABLE, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def warn_insecure(log: logging.Logger, who: str) -> None:
    log.warning("%s: %s", who, INSECURE_WARNING)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_loopback(host: str, who: str) -> None:
    """Plaintext without caller identities is for one machine only: refuse any other address."""
    if not is_loopback(host):
        raise TlsConfigurationError(
            f"{who}: PROTOMESH_INSECURE=1 serves plaintext with no caller identities, so it "
            f"listens on loopback only (127.0.0.1), not {host}; turn TLS on to listen there"
        )


@dataclass(frozen=True)
class TlsFiles:
    """Where a process finds its certificate, its private key and the mesh CA.

    Paths only: the key's bytes are read by the TLS layer when it needs them
    and are never held in config objects or logged.
    """

    cert: Path
    key: Path
    ca: Path

    @classmethod
    def of(cls, directory: Path, name: str) -> TlsFiles:
        """The files `protomesh certs` writes for identity `name` in `directory`."""
        return cls(directory / f"{name}.crt", directory / f"{name}.key", directory / "ca.crt")

    def read(self) -> tuple[bytes, bytes, bytes]:
        """(certificate chain, private key, CA bundle), all three from one version.

        The files may be links into a directory that is swapped as a whole on
        rotation; reading resolved paths, and again if a swap happened while
        reading, never pairs a new certificate with an old key.
        """
        for _ in range(READ_ATTEMPTS):
            resolved = [Path(os.path.realpath(p)) for p in (self.cert, self.key, self.ca)]
            cert, key, ca = (path.read_bytes() for path in resolved)
            if resolved == [Path(os.path.realpath(p)) for p in (self.cert, self.key, self.ca)]:
                return cert, key, ca
        raise OSError(f"{self.cert} kept changing while it was read")

    def fingerprint(self) -> tuple[tuple[int, int, int], ...]:
        """Changes whenever any of the three files is replaced (inode, size, mtime)."""
        stats = (os.stat(path) for path in (self.cert, self.key, self.ca))
        return tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)


def tls_files(cert: Path | None, key: Path | None, ca: Path | None) -> TlsFiles | None:
    """All three paths, or None for none; a partial set is an error naming what is missing."""
    given = {"TLS_CERT_PATH": cert, "TLS_KEY_PATH": key, "TLS_CA_PATH": ca}
    if all(path is None for path in given.values()):
        return None
    missing = [name for name, path in given.items() if path is None]
    if missing:
        raise TlsConfigurationError(f"set {', '.join(missing)} too: TLS needs all three files")
    return TlsFiles(*(path for path in given.values() if path is not None))
