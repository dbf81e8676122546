"""Issue the mesh's certificates from the registry: idempotent, renewing, rotating.

`ensure_certificates` is safe to run before every start: a leaf that is still
good is kept; one that is missing, close to expiry (less than a third of its
lifetime left), signed by another CA, or lacking a name the registry now
needs is reissued. `rotate=True` reissues every leaf (the CA stays, so
nothing that trusts it needs to change); `new_ca=True` also replaces the CA,
which every running process must then be restarted to trust.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from protomesh.registry import Mesh
from protomesh_toolkit.certs.authority import (
    LEAF_LIFETIME,
    Identity,
    KeyPair,
    issue_leaf,
    names_of,
    new_root,
    signed_by,
)
from protomesh_toolkit.certs.store import CertStore

EDGE = "edge"
OPERATOR = "operator"  # the human with grpcurl: a client certificate, nothing more
LOOPBACK_NAMES = ("localhost",)
LOOPBACK_IPS = ("127.0.0.1",)
ROOT_RENEW_MARGIN = datetime.timedelta(days=7)


@dataclass(frozen=True)
class Outcome:
    name: str
    action: str  # "issued", "renewed", "rotated", "kept"
    reason: str
    expires: datetime.datetime
    serial: int


def mesh_identities(mesh: Mesh) -> list[Identity]:
    """One identity per service (named by every replica name it has anywhere), NATS (its
    server certificate), the edge, each CDC worker (`order-cdc`), every extra identity
    the registry lists, and the operator."""
    identities: list[Identity] = []
    for service in mesh.services.values():
        names = {service.name}
        for environment in mesh.environments:
            for replica in service.replicas_in(environment):
                names.add(service.replica_name(replica, environment))
        dns = (*sorted(names), *LOOPBACK_NAMES)
        identities.append(Identity(service.name, dns, LOOPBACK_IPS))
    extra = [name for name in mesh.identities if name not in mesh.services]
    if mesh.edge is not None:
        extra.insert(0, EDGE)
    if "nats" in mesh.infrastructure:  # the NATS server's own, for its TLS listener
        extra.insert(0, "nats")
    extra += [capture.name for capture in mesh.cdc.values()]  # order-cdc: NATS client only
    for name in extra:
        if name != OPERATOR:
            identities.append(Identity(name, (name, *LOOPBACK_NAMES), LOOPBACK_IPS))
    identities.append(Identity(OPERATOR))
    return identities


def ensure_certificates(
    mesh: Mesh,
    directory: Path,
    *,
    rotate: bool = False,
    new_ca: bool = False,
    lifetime: datetime.timedelta = LEAF_LIFETIME,
) -> list[Outcome]:
    return ensure_identities(
        mesh.trust_domain,
        mesh_identities(mesh),
        directory,
        rotate=rotate,
        new_ca=new_ca,
        lifetime=lifetime,
    )


def ensure_identities(
    trust_domain: str,
    identities: Sequence[Identity],
    directory: Path,
    *,
    rotate: bool = False,
    new_ca: bool = False,
    lifetime: datetime.timedelta = LEAF_LIFETIME,
) -> list[Outcome]:
    store = CertStore(directory)
    now = datetime.datetime.now(datetime.UTC)
    root = None if new_ca else store.read_root()
    root_is_new = root is None or root.parsed.not_valid_after_utc - now < ROOT_RENEW_MARGIN
    if root is None or root_is_new:
        root = new_root(trust_domain)
    leaves: dict[str, KeyPair] = {}
    outcomes: list[Outcome] = []
    changed = root_is_new
    for identity in identities:
        current = store.read(identity.name)
        reason = _why_reissue(current, identity, root, now, lifetime)
        if rotate and current is not None:
            action, reason = "rotated", "asked to rotate"
        elif reason is None and current is not None:
            leaves[identity.name] = current
            outcomes.append(_outcome(identity.name, "kept", "still valid", current))
            continue
        else:
            action = "issued" if current is None else "renewed"
        pair = issue_leaf(root, trust_domain, identity, lifetime)
        leaves[identity.name] = pair
        outcomes.append(_outcome(identity.name, action, reason or "", pair))
        changed = True
    if changed:
        store.write(root, leaves, new_root=root_is_new)
    return outcomes


def _why_reissue(
    current: KeyPair | None,
    identity: Identity,
    root: KeyPair,
    now: datetime.datetime,
    lifetime: datetime.timedelta,
) -> str | None:
    if current is None:
        return "none yet"
    certificate = current.parsed
    if not signed_by(certificate, root.parsed):
        return "signed by another CA"
    left = certificate.not_valid_after_utc - now
    if left < lifetime / 3:
        return "expired" if left.total_seconds() <= 0 else "close to expiry"
    dns, ips = names_of(certificate)
    if dns != set(identity.dns_names) or ips != set(identity.ip_addresses):
        return "the names it must answer to changed"
    return None


def _outcome(name: str, action: str, reason: str, pair: KeyPair) -> Outcome:
    certificate = pair.parsed
    return Outcome(name, action, reason, certificate.not_valid_after_utc, certificate.serial_number)


def listing(directory: Path) -> list[Outcome]:
    """What exists in `directory` now, with expiry; the CA first."""
    store = CertStore(directory)
    root = store.read_root()
    if root is None:
        return []
    found = [_outcome("ca", "exists", "root", root)]
    for name in store.names():
        pair = store.read(name)
        if pair is not None:
            found.append(_outcome(name, "exists", "", pair))
    return found
