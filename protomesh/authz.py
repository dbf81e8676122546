"""Who may call what: a service's caller allow-list, decided by the caller's SPIFFE id.

mTLS tells a service *who* is calling: the peer's certificate carries exactly
one URI SAN, `spiffe://<trust domain>/svc/<name>`, and grpc reports it as
`peer_spiffe_id`. `CallerPolicy` says what that name may do, from the
service's `callers` section in mesh.yaml:

    policy = CallerPolicy.of(mesh, "user")
    policy.allows("/shop.user.v1.UserService/GetUser", "order")   # True
    policy.allows("/shop.user.v1.UserService/DeleteUser", "order")  # False: not listed

Deny by default: a method no rule covers is refused to everyone. Health
checks and server reflection are allowed to every holder of a mesh
certificate (the TLS handshake has already proved that): balancers, Envoy
and the operator's grpcurl all need them, and they reveal only liveness and
the public contracts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from protomesh.registry import Mesh

OPEN_TO_MESH = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)


def is_open_to_mesh(method: str) -> bool:
    return method.startswith(OPEN_TO_MESH)


def spiffe_id(trust_domain: str, name: str) -> str:
    """The SPIFFE id a mesh certificate carries for `name`: `spiffe://<domain>/svc/<name>`."""
    return f"spiffe://{trust_domain}/svc/{name}"


def caller_name(spiffe_id: str, trust_domain: str) -> str | None:
    """`spiffe://protomesh.local/svc/order` → `order`; None for another trust domain or shape."""
    prefix = f"spiffe://{trust_domain}/svc/"
    if not spiffe_id.startswith(prefix):
        return None
    name = spiffe_id.removeprefix(prefix)
    return name if name and "/" not in name else None


@dataclass(frozen=True)
class CallerPolicy:
    """The callers of one service: rules keyed `/pkg.Service/Method` or `/pkg.Service/*`."""

    trust_domain: str
    rules: Mapping[str, frozenset[str]] = field(default_factory=dict)
    end_user_from: frozenset[str] = frozenset({"edge"})

    @classmethod
    def of(cls, mesh: Mesh, service: str) -> CallerPolicy:
        """The policy mesh.yaml gives `service`; a service it does not list gets no callers."""
        found = mesh.services.get(service)
        if found is None:
            return cls(mesh.trust_domain)
        return cls.from_rules(mesh.trust_domain, found.callers, found.end_user_from)

    @classmethod
    def from_rules(
        cls,
        trust_domain: str,
        rules: Mapping[str, Sequence[str]],
        end_user_from: Sequence[str] = ("edge",),
    ) -> CallerPolicy:
        keyed = {f"/{key}": frozenset(names) for key, names in rules.items()}
        return cls(trust_domain, keyed, frozenset(end_user_from))

    def callers_of(self, method: str) -> frozenset[str]:
        """Who may call `method` (`/pkg.Service/Method`): its own rule, else its service's `*`."""
        exact = self.rules.get(method)
        if exact is not None:
            return exact
        service, _, _ = method.rpartition("/")
        return self.rules.get(f"{service}/*", frozenset())

    def allows(self, method: str, caller: str) -> bool:
        return caller in self.callers_of(method)

    def forwards_end_user(self, caller: str) -> bool:
        """Whether `caller` may tell this service who the end user is (x-jwt-sub)."""
        return caller in self.end_user_from
