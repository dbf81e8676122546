"""What mesh.yaml describes, as frozen dataclasses the rest of protomesh reads.

Nothing here parses or validates: `reader.py` builds these only from a file
it has checked whole, so code holding a `Mesh` can trust every value in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import ClassVar

Ports = Mapping[str, int]  # by environment
Workers = Mapping[
    str, int | None
]  # server processes per replica, by environment; None: a core each
LOCAL = "local"  # the environment whose components all listen on loopback
LOOPBACK = "127.0.0.1"


def host_of(environment: str, name: str) -> str:
    """Where a component is reached: loopback locally, else by its name (container DNS)."""
    return LOOPBACK if environment == LOCAL else name


@dataclass(frozen=True)
class Database:
    schema: str
    role: str


@dataclass(frozen=True)
class Component:
    """Anything the mesh runs: a piece of infrastructure, or (as `Service`) a service."""

    section: ClassVar[str] = "infrastructure"
    name: str
    ports: Ports
    depends_on: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"{self.section}.{self.name}"


@dataclass(frozen=True)
class Infrastructure(Component):
    """A shared part the services use (PostgreSQL, NATS); `monitor_ports` is NATS's HTTP monitor."""

    monitor_ports: Ports


@dataclass(frozen=True)
class Replica:
    """One process of a service; it may run in some environments only."""

    service: str
    number: int  # 1-based, in the file's order
    ports: Ports
    metrics_ports: Ports = field(default_factory=dict)  # Prometheus /metrics, where it has one


@dataclass(frozen=True)
class CallLimits:
    """Token buckets (see `TokenBucket`) for one scope: one per caller, one per end user."""

    per_caller: TokenBucket | None = None  # a bucket per mesh identity (certificate)
    per_end_user: TokenBucket | None = None  # a bucket per end user the edge forwarded


DAY = 24 * 3600.0
# How long JetStream keeps an event (the mesh's event streams' max_age,
# protomesh.bus.streams): past it no delivery of the event can happen again,
# so a handled event id need not be remembered longer.
EVENT_STREAM_MAX_AGE = 7 * DAY


@dataclass(frozen=True)
class Retention:
    """A service's `retention` section: how long the runtime's own tables keep rows.

    Seconds. `processed_events`: handled event ids (the consumers' dedupe);
    `outbox`: published events. Expired idempotency keys go when they expire.
    Every `every` seconds (jittered) one replica deletes what expired, `batch`
    rows per statement.
    """

    processed_events: float = EVENT_STREAM_MAX_AGE + DAY
    outbox: float = 3600.0
    every: float = 300.0
    batch: int = 1000


@dataclass(frozen=True)
class ServiceLimits:
    """A service's `limits` section, enforced inside each of its processes.

    `service` holds the service-wide buckets; `methods` (keyed like `callers`:
    `pkg.Service/Method` or `pkg.Service/*`) give some methods buckets of their
    own. `max_concurrent_calls` bounds the calls one process runs at once.
    """

    max_concurrent_calls: int | None = None
    service: CallLimits = field(default_factory=CallLimits)
    methods: Mapping[str, CallLimits] = field(default_factory=dict)


@dataclass(frozen=True)
class Service(Component):
    """`ports` are the first replica's; `replicas` lists every one of them."""

    section: ClassVar[str] = "services"
    module: str
    env_prefix: str
    database: Database | None
    serves: tuple[str, ...]
    replicas: tuple[Replica, ...]
    # Who may call which RPC: `pkg.Service/Method` or `pkg.Service/*` → identity names.
    callers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Whose forwarded end user (x-jwt-sub) this service believes.
    end_user_from: tuple[str, ...] = ("edge",)
    # Rate limits per caller and per end user, and the bound on calls at once.
    limits: ServiceLimits = field(default_factory=ServiceLimits)
    # The event types (full proto names) it appends to its outbox, and those it
    # reads from the bus: `protomesh.registry.events` checks the two agree.
    produces: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()
    # How long the runtime's own tables keep rows (the pruner reads it).
    retention: Retention = field(default_factory=Retention)
    # Server processes each replica runs (protomesh.registry.workers).
    workers: Workers = field(default_factory=dict)

    def replicas_in(self, environment: str) -> tuple[Replica, ...]:
        return tuple(r for r in self.replicas if environment in r.ports)

    def replica_name(self, replica: Replica, environment: str) -> str:
        """`user` when it runs alone in the environment, else `user-1`, `user-2`, ..."""
        alone = len(self.replicas_in(environment)) == 1
        return self.name if alone else f"{self.name}-{replica.number}"

    def addresses(self, environment: str) -> list[str]:
        """`host:port` of every replica in `environment`, in the file's order.

        Locally every replica is on 127.0.0.1; elsewhere each is reached by its
        name (`user`, or `user-1`, `user-2` when there are several).
        """
        return [
            f"{host_of(environment, self.replica_name(r, environment))}:{r.ports[environment]}"
            for r in self.replicas_in(environment)
        ]


@dataclass(frozen=True)
class TokenBucket:
    """`requests` per `seconds`, with bursts up to `burst` (Envoy's token bucket)."""

    requests: int
    seconds: float
    burst: int


@dataclass(frozen=True)
class Quota:
    """A token bucket per client; `client` says how a client is told apart."""

    client: str  # "jwt_subject" or "api_key"
    bucket: TokenBucket


PUBLIC, SIGNED_IN, OWNER, ROLE = "public", "signed_in", "owner", "role"
AUTH_FORMS = "public, signed_in, {owner: <request field>} or {role: <role>}"


@dataclass(frozen=True)
class Access:
    """Which end users may call a route (its `auth:` in mesh.yaml).

    public                  anyone, signed in or not
    signed_in               any end user with a valid token
    {owner: user_id}        only the end user named by the request's `user_id`
    {role: admin}           only end users whose token carries the role `admin`
    """

    kind: str  # PUBLIC, SIGNED_IN, OWNER or ROLE
    value: str = ""  # OWNER: the request field naming the owner; ROLE: the role

    @property
    def requires_token(self) -> bool:
        return self.kind != PUBLIC

    def __str__(self) -> str:
        return f"{self.kind}: {self.value}" if self.value else self.kind


@dataclass(frozen=True)
class Policy:
    """Edge policy of a route; None means "as the enclosing level says"."""

    timeout: float | None = None
    retries: int | None = None
    auth: Access | None = None
    rate_limit: TokenBucket | None = None
    quota: Quota | None = None
    # Refuse JSON bodies with fields the request message lacks (the transcoder
    # would drop them silently); on unless a route says `strict_json: false`.
    strict_json: bool | None = None

    @property
    def requires_token(self) -> bool:
        """Whether the edge refuses a call without a valid JWT: every route but a public one.

        A route without `auth` is refused by the registry check; were one to slip
        through, it still needs a token (deny by default).
        """
        return self.auth is None or self.auth.requires_token

    def over(self, base: Policy) -> Policy:
        """This policy, with what it leaves unset taken from `base`."""
        unset = {
            f.name: getattr(base, f.name) for f in fields(self) if getattr(self, f.name) is None
        }
        return replace(self, **unset)


@dataclass(frozen=True)
class Jwt:
    issuer: str
    audiences: tuple[str, ...]


@dataclass(frozen=True)
class CircuitBreaker:
    max_connections: int
    max_pending_requests: int
    max_requests: int
    max_retries: int


@dataclass(frozen=True)
class Edge:
    """The Envoy edge: its listener, and the policy of every route it exposes.

    `routes` is keyed by proto service (`shop.user.v1.UserService`) or method
    (`shop.user.v1.UserService/GetUser`); only proto services named here are
    exposed. `policy()` resolves a method's policy: method, then service, then
    `defaults`.
    """

    section: ClassVar[str] = "edge"
    ports: Ports
    admin_ports: Ports
    max_request_bytes: int
    cors_origins: tuple[str, ...]
    api_key_header: str
    jwt: Jwt | None
    circuit_breaker: CircuitBreaker
    defaults: Policy
    routes: Mapping[str, Policy]
    # Seconds before Envoy closes an upstream connection and opens a new one,
    # so a rotated client certificate is in use within this long.
    connection_lifetime: float = 600.0

    @property
    def exposed(self) -> tuple[str, ...]:
        return tuple(key for key in self.routes if "/" not in key)

    def policy(self, proto_service: str, method: str) -> Policy:
        own = self.routes.get(f"{proto_service}/{method}", Policy())
        return own.over(self.routes.get(proto_service, Policy())).over(self.defaults)


@dataclass(frozen=True)
class Observability:
    """Where each environment sends traces (none: tracing off), and the share of new traces kept."""

    section: ClassVar[str] = "telemetry"
    otlp_endpoints: Mapping[str, str]  # host:port by environment
    receiver_ports: Ports  # for `protomesh up --otlp`
    sample_rate: float = 1.0
    console_ports: Ports = field(default_factory=dict)  # the local cluster's console page


@dataclass(frozen=True)
class ChangeCapture:
    """A CDC worker for one service's tables (`cdc.<service>`, docs/cdc.md).

    `tables` maps each watched table to the full name of its change message;
    `role` is the REPLICATION role the worker reads the slot with.
    """

    section: ClassVar[str] = "cdc"
    service: str
    tables: Mapping[str, str]
    role: str
    metrics_ports: Ports

    @property
    def name(self) -> str:
        """The worker's component name: `order-cdc`."""
        return f"{self.service}-cdc"


@dataclass(frozen=True)
class Mesh:
    trust_domain: str
    environments: tuple[str, ...]
    infrastructure: Mapping[str, Infrastructure]
    services: Mapping[str, Service]
    start_order: tuple[str, ...]  # every component after the ones it depends on
    edge: Edge | None = None
    identities: tuple[str, ...] = ()  # certificate holders that are not services here
    telemetry: Observability = Observability({}, {})
    cdc: Mapping[str, ChangeCapture] = field(default_factory=dict)  # by service name

    @property
    def known_identities(self) -> tuple[str, ...]:
        """Every name a certificate is issued to, so a caller list may name it."""
        edge = ("edge",) if self.edge is not None else ()
        extra = tuple(name for name in self.identities if name not in self.services)
        return (*self.services, *edge, *extra)

    def component(self, name: str) -> Component:
        return self.infrastructure.get(name) or self.services[name]

    def producer_of(self, event_type: str) -> Service | None:
        """The service that publishes an event type, if any does."""
        return next((s for s in self.services.values() if event_type in s.produces), None)

    def consumers_of(self, event_type: str) -> tuple[Service, ...]:
        return tuple(s for s in self.services.values() if event_type in s.consumes)

    def server_of(self, proto_service: str) -> Service | None:
        """The service that serves a proto service, if any does."""
        return next((s for s in self.services.values() if proto_service in s.serves), None)
