"""`protomesh certs issue --publish`: each identity's folder gets its own set and nothing else."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from protomesh_toolkit.certs import cli
from protomesh_toolkit.certs.store import CertStore


def visible_files(folder: Path) -> set[str]:
    """What a process mounting `folder` can open by name (links through ..data included)."""
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")}


def test_each_identity_folder_gets_its_key_its_certificate_and_the_ca_certificate_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, out = tmp_path / "ca", tmp_path / "identities"
    for name in ("user", "edge"):
        (out / name).mkdir(parents=True)

    assert cli.main(["issue", "--dir", str(store), "--publish", str(out)]) == 0

    assert "Published to" in capsys.readouterr().out
    assert visible_files(out / "user") == {"ca.crt", "user.crt", "user.key"}
    assert visible_files(out / "edge") == {"ca.crt", "edge.crt", "edge.key"}
    assert not list(out.glob("**/ca.key"))
    assert not list(out.glob("**/..*/order.key"))
    issued = CertStore(store)
    assert (out / "user" / "user.key").read_bytes() == issued.key_path("user").read_bytes()
    assert (out / "user" / "ca.crt").read_bytes() == issued.ca_path.read_bytes()
    assert stat.S_IMODE(os.stat(out / "user" / "user.key").st_mode) == 0o600


def test_a_rotation_swaps_the_published_set_too(tmp_path: Path) -> None:
    store, out = tmp_path / "ca", tmp_path / "identities"
    (out / "order").mkdir(parents=True)
    assert cli.main(["issue", "--dir", str(store), "--publish", str(out)]) == 0
    before = (out / "order" / "order.crt").read_bytes()

    assert cli.main(["rotate", "--dir", str(store), "--publish", str(out)]) == 0

    after = (out / "order" / "order.crt").read_bytes()
    assert after != before
    assert after == CertStore(store).cert_path("order").read_bytes()
    assert os.readlink(out / "order" / "order.crt") == "..data/order.crt"


def test_a_folder_naming_no_identity_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out" / "nobody").mkdir(parents=True)
    assert (
        cli.main(["issue", "--dir", str(tmp_path / "ca"), "--publish", str(tmp_path / "out")]) == 1
    )
    assert "no identity named 'nobody' was issued" in capsys.readouterr().err
