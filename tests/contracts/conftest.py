"""The contracts as they are now, copied so each test can break them safely."""

from __future__ import annotations

from pathlib import Path

import pytest

from protomesh.paths import ROOT
from tests.contracts.workspace import ProtoWorkspace


@pytest.fixture(scope="session")
def base_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unmodified contracts, built once: what every mutation is compared with."""
    return ProtoWorkspace.copy_of(ROOT, tmp_path_factory.mktemp("base") / "protos").image("base")


@pytest.fixture
def workspace(tmp_path: Path) -> ProtoWorkspace:
    return ProtoWorkspace.copy_of(ROOT, tmp_path / "protos")
