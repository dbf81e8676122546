"""envoy/local.yaml and envoy/compose.yaml are exactly what mesh.yaml renders to."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.cli import render_main
from protomesh.paths import ENVOY_DIR
from protomesh.registry import DEFAULT_MESH_FILE


def test_the_committed_configs_match_mesh_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code = render_main(["--check"])
    assert code == 0, capsys.readouterr().err


def test_a_change_to_mesh_yaml_shows_as_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    document["edge"]["max_request_bytes"] = 1024
    changed = tmp_path / "mesh.yaml"
    changed.write_text(yaml.safe_dump(document, sort_keys=False))
    assert render_main(["--check", "--mesh", str(changed), "--output-dir", str(ENVOY_DIR)]) == 1
    assert "differ from mesh.yaml" in capsys.readouterr().err


def test_rendering_writes_a_config_per_environment_and_the_descriptor(tmp_path: Path) -> None:
    assert render_main(["--output-dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "compose.yaml",
        "edge.binpb",
        "local.yaml",
    ]
    assert (tmp_path / "local.yaml").read_text() == (ENVOY_DIR / "local.yaml").read_text()
    assert render_main(["--check", "--output-dir", str(tmp_path)]) == 0
