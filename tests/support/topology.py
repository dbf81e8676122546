"""Registries for topology tests: the project's mesh.yaml plus a replicated order service.

The order service lives in another branch; its registry entry is known, so
compose and Kubernetes rendering are proven on it before it lands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from protomesh.registry import DEFAULT_MESH_FILE, Mesh, load_mesh

ORDER = {
    "module": "services.order",
    "env_prefix": "ORDER_SERVICE_",
    "replicas": [
        {"port": {"local": 50052, "compose": 50052}},
        {"port": {"compose": 50052}},
    ],
    "database": {"schema": "orders", "role": "order_svc"},
    "serves": ["shop.order.v1.OrderService"],
    "depends_on": ["postgres", "nats", "user"],
}


def mesh_with_order(directory: Path) -> tuple[Path, Mesh]:
    """mesh.yaml with the order entry the lead adds at merge, written into `directory`."""
    document: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    document["services"].setdefault("order", ORDER)
    document["edge"]["routes"].setdefault("shop.order.v1.OrderService", {"timeout": "2s"})
    path = directory / "mesh.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path, load_mesh(path)
