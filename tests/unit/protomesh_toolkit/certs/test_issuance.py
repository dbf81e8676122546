"""The local CA: what it issues from mesh.yaml, and how re-runs keep, renew and rotate."""

from __future__ import annotations

import datetime
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509

from protomesh.registry import DEFAULT_MESH_FILE, load_mesh, parse_mesh
from protomesh_toolkit.certs import cli
from protomesh_toolkit.certs.authority import Identity, issue_leaf, names_of, new_root, signed_by
from protomesh_toolkit.certs.issuance import ensure_certificates, listing, mesh_identities
from protomesh_toolkit.certs.store import CertStore

MESH = load_mesh()


def leaf(directory: Path, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((directory / f"{name}.crt").read_bytes())


def test_every_service_the_edge_the_listed_identities_and_the_operator_get_a_leaf(
    tmp_path: Path,
) -> None:
    outcomes = ensure_certificates(MESH, tmp_path)
    # Only what exists: the declared services, NATS's server, the edge, the CDC worker
    # (a NATS client), and the operator.
    names = ["user", "order", "reporting", "bff", "nats", "edge", "order-cdc", "operator"]
    assert [o.name for o in outcomes] == names
    assert {o.action for o in outcomes} == {"issued"}
    user = leaf(tmp_path, "user")
    san = user.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://protomesh.local/svc/user"
    ]
    assert names_of(user) == (frozenset({"user", "localhost"}), frozenset({"127.0.0.1"}))
    lifetime = user.not_valid_after_utc - user.not_valid_before_utc
    assert datetime.timedelta(hours=24) <= lifetime <= datetime.timedelta(hours=25)
    root = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    assert signed_by(user, root)


def test_replicas_are_named_in_their_services_certificate() -> None:
    ports = "{port: {local: 50051, compose: 50051}}, {port: {local: 50061, compose: 50061}}"
    two = (
        DEFAULT_MESH_FILE.read_text()
        .replace("port: {local: 50051, compose: 50051}", f"replicas: [{ports}]")
        .replace("metrics_port: {local: 9464, compose: 9464}", "")  # one per replica, or none
    )
    user = next(i for i in mesh_identities(parse_mesh(two)) if i.name == "user")
    assert set(user.dns_names) == {"user", "user-1", "user-2", "localhost"}
    order = next(i for i in mesh_identities(MESH) if i.name == "order")
    assert set(order.dns_names) == {"order", "order-1", "order-2", "localhost"}


def test_keys_are_private_and_certificates_readable(tmp_path: Path) -> None:
    ensure_certificates(MESH, tmp_path)
    for name in ("ca.key", "user.key", "operator.key"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name
    assert stat.S_IMODE(os.stat(tmp_path / "user.crt").st_mode) == 0o644


def test_a_rerun_keeps_what_is_valid_and_a_rotation_replaces_every_leaf(tmp_path: Path) -> None:
    first = {o.name: o.serial for o in ensure_certificates(MESH, tmp_path)}
    again = ensure_certificates(MESH, tmp_path)
    assert {o.action for o in again} == {"kept"}
    assert {o.name: o.serial for o in again} == first
    rotated = ensure_certificates(MESH, tmp_path, rotate=True)
    assert {o.action for o in rotated} == {"rotated"}
    assert all(first[o.name] != o.serial for o in rotated)
    root = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    assert all(signed_by(leaf(tmp_path, name), root) for name in first)  # same CA


def test_a_leaf_close_to_expiry_or_from_another_ca_is_renewed(tmp_path: Path) -> None:
    ensure_certificates(MESH, tmp_path)
    store = CertStore(tmp_path)
    root = store.read_root()
    assert root is not None
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=20)
    leaves = {name: pair for name in store.names() if (pair := store.read(name)) is not None}
    user = Identity("user", ("user", "localhost"), ("127.0.0.1",))
    leaves["user"] = issue_leaf(root, MESH.trust_domain, user, not_before=old)
    edge = Identity("edge", ("edge", "localhost"), ("127.0.0.1",))
    leaves["edge"] = issue_leaf(new_root(MESH.trust_domain), MESH.trust_domain, edge)
    store.write(root, leaves, new_root=False)
    outcomes = {o.name: o for o in ensure_certificates(MESH, tmp_path)}
    assert (outcomes["user"].action, outcomes["user"].reason) == ("renewed", "close to expiry")
    assert (outcomes["edge"].action, outcomes["edge"].reason) == (
        "renewed",
        "signed by another CA",
    )
    assert outcomes["operator"].action == "kept"


def test_a_new_set_replaces_the_old_in_one_swap_and_old_versions_are_pruned(
    tmp_path: Path,
) -> None:
    ensure_certificates(MESH, tmp_path)
    for _ in range(3):
        ensure_certificates(MESH, tmp_path, rotate=True)
    data = tmp_path / "..data"
    assert data.is_symlink()
    assert os.readlink(tmp_path / "user.crt") == "..data/user.crt"
    assert len(list(tmp_path.glob("..v*"))) == 2  # the current set and the one before


def test_the_cli_issues_and_lists_without_printing_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["issue", "--dir", str(tmp_path)]) == 0
    assert cli.main(["list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert ["user", "exists"] in [line.split()[:2] for line in out.splitlines()]
    assert "expires" in out
    assert "PRIVATE KEY" not in out
    assert cli.main(["list", "--dir", str(tmp_path / "none")]) == 1
    assert next(o.name for o in listing(tmp_path)) == "ca"
