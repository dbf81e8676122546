"""The edge benchmark runs Envoy on the project's own mesh.yaml, moved to free local ports.

When mesh.yaml grows (replicas, metrics ports, telemetry), this is what
keeps `make bench` from quietly skipping the REST-through-Envoy figures.
"""

from __future__ import annotations

from pathlib import Path

from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import LOCAL, RpcCatalogue
from protomesh_toolkit.bench.edge_proxy import bench_mesh


def test_the_bench_mesh_is_the_project_registry_on_free_local_ports(tmp_path: Path) -> None:
    mesh = bench_mesh(tmp_path / "mesh.yaml", 23456, RpcCatalogue.load(DESCRIPTOR_SET))

    user = mesh.services["user"]
    assert user.addresses(LOCAL) == ["127.0.0.1:23456"]
    assert mesh.environments == (LOCAL,)
    assert mesh.edge is not None
    assert mesh.edge.ports[LOCAL] != 8080
