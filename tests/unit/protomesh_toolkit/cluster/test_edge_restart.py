"""A crashed edge is started again on the files its `up` prepared, not rendered anew."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, ClassVar

import pytest

from protomesh.registry import DEFAULT_MESH_FILE, load_mesh
from protomesh_toolkit.cluster import edge
from protomesh_toolkit.layout import Layout


class FakeEnvoy:
    """Popen's stand-in: records the command, runs nothing."""

    commands: ClassVar[list[list[str]]] = []

    def __init__(self, command: list[str], **options: Any) -> None:
        self.commands.append(command)
        self.pid = 4242 + len(self.commands)


def test_a_restart_reuses_the_prepared_config_and_a_lost_one_is_rendered_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[Path] = []

    def prepare(*args: Any, **options: Any) -> Path:
        config = tmp_path / f"edge-{len(rendered)}.yaml"
        config.write_text("static_resources: {}\n")
        rendered.append(config)
        return config

    monkeypatch.setattr(edge, "prepare_edge_files", prepare)
    monkeypatch.setattr(subprocess, "Popen", FakeEnvoy)
    layout = Layout(tmp_path / "run", DEFAULT_MESH_FILE)
    layout.logs_dir.mkdir(parents=True)
    mesh_edge = load_mesh(DEFAULT_MESH_FILE).edge
    assert mesh_edge is not None
    part = edge.EdgeProcess(mesh_edge, layout)

    part.launch(5)
    part.launch(5)  # the supervisor's restart
    assert len(rendered) == 1
    rendered[0].unlink()  # someone cleaned the run dir meanwhile
    part.launch(5)
    assert len(rendered) == 2
    assert [c[c.index("--config-path") + 1] for c in FakeEnvoy.commands[-3:]] == [
        str(rendered[0]),
        str(rendered[0]),
        str(rendered[1]),
    ]
