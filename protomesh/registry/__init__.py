"""mesh.yaml, the one registry the rest of the mesh is derived from.

Read into frozen dataclasses (`model.py`) and checked whole before anything
uses it (`reader.py`, `edge.py`); with the descriptor set, also checked
against the contracts (`catalogue.py`).
"""

from __future__ import annotations

from protomesh.registry.catalogue import Rpc, RpcCatalogue
from protomesh.registry.model import (
    LOCAL,
    Access,
    CallLimits,
    ChangeCapture,
    CircuitBreaker,
    Component,
    Database,
    Edge,
    Infrastructure,
    Jwt,
    Mesh,
    Observability,
    Policy,
    Quota,
    Replica,
    Retention,
    Service,
    ServiceLimits,
    TokenBucket,
)
from protomesh.registry.reader import (
    DEFAULT_MESH_FILE,
    INFRASTRUCTURE_KINDS,
    RegistryError,
    load_mesh,
    parse_mesh,
)

__all__ = [
    "DEFAULT_MESH_FILE",
    "INFRASTRUCTURE_KINDS",
    "LOCAL",
    "Access",
    "CallLimits",
    "ChangeCapture",
    "CircuitBreaker",
    "Component",
    "Database",
    "Edge",
    "Infrastructure",
    "Jwt",
    "Mesh",
    "Observability",
    "Policy",
    "Quota",
    "RegistryError",
    "Replica",
    "Retention",
    "Rpc",
    "RpcCatalogue",
    "Service",
    "ServiceLimits",
    "TokenBucket",
    "load_mesh",
    "parse_mesh",
]
