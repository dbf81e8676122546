"""Hand each identity its own certificate, key and the CA certificate, in a folder of its own.

The issuing store holds the CA key and every identity's key; no process but
the issuer should mount it. `publish_each` copies, into every existing
subfolder of `out` named after an identity (in compose: one volume per
identity, mounted there by the certs job and by that identity's containers
alone), that identity's set, swapped in atomically so running readers reload it.
"""

from __future__ import annotations

from pathlib import Path

from protomesh_toolkit.certs.store import CertStore, publish_identity


class PublicationError(RuntimeError):
    pass


def publish_each(store_dir: Path, out: Path, owner: tuple[int, int] | None) -> list[str]:
    """The identities published, by name; a subfolder naming no identity is an error."""
    store = CertStore(store_dir)
    root = store.read_root()
    if root is None:
        raise PublicationError(f"no CA in {store_dir}: issue first")
    published = []
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")):
        pair = store.read(folder.name)
        if pair is None:
            raise PublicationError(f"{folder}: no identity named {folder.name!r} was issued")
        publish_identity(folder, root, folder.name, pair, owner)
        published.append(folder.name)
    return published


def parse_owner(text: str) -> tuple[int, int]:
    """`UID:GID` (or `UID`, the group then being the same number)."""
    uid, _, gid = text.partition(":")
    try:
        return int(uid), int(gid or uid)
    except ValueError:
        raise PublicationError(f"--owner {text!r}: expected UID:GID") from None
