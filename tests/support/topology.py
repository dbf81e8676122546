"""Registries for topology tests: the project's mesh.yaml, replicated order service and all."""

from __future__ import annotations

from pathlib import Path

from protomesh.registry import DEFAULT_MESH_FILE, Mesh, load_mesh
from protomesh_toolkit.layout import Layout


def mesh_with_order(directory: Path) -> tuple[Path, Mesh]:
    """mesh.yaml (two compose replicas of order, one local) copied into `directory`.

    A copy, so a test's layout and secrets live under its own temp dir.
    """
    path = directory / "mesh.yaml"
    path.write_text(DEFAULT_MESH_FILE.read_text())
    return path, load_mesh(path)


def prepared(tmp_path: Path, mesh_file: Path) -> Layout:
    """A run directory with its secrets folder, where launching a service makes its files."""
    layout = Layout(tmp_path / "run", mesh_file)
    layout.prepare()
    return layout
