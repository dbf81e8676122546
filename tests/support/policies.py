"""The policies mesh.yaml gives a service, for tests that serve it in process."""

from __future__ import annotations

from protomesh.policies import ServicePolicies
from protomesh.registry import load_mesh


def project_policies(name: str) -> ServicePolicies:
    """What the project's mesh.yaml says about `name` (none for a name it lacks: deny)."""
    return ServicePolicies.of(load_mesh(), name)
