"""What mesh.yaml says about one service's callers: who may call, for which end users, how often.

A service's bootstrap reads its registry once and hands these to the
runtime, so the server never opens a file behind the composition root's back
and a test can hand in policies of its own:

    mesh = load_mesh(settings.mesh_file)
    ServiceDefinition("user", registrations, policies=ServicePolicies.of(mesh, "user"))
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protomesh.authz import CallerPolicy
from protomesh.interceptors.end_user_policy import RoutePolicies
from protomesh.registry import Mesh, ServiceLimits


@dataclass(frozen=True)
class ServicePolicies:
    callers: CallerPolicy  # which mesh identities may call which RPC (mTLS)
    routes: RoutePolicies  # which end users, for calls from the edge (`edge.routes` auth)
    limits: ServiceLimits = field(default_factory=ServiceLimits)  # rates and concurrency

    @classmethod
    def of(cls, mesh: Mesh, name: str) -> ServicePolicies:
        service = mesh.services.get(name)
        return cls(
            CallerPolicy.of(mesh, name),
            RoutePolicies(mesh.edge),
            service.limits if service is not None else ServiceLimits(),
        )
