"""mesh.yaml, read and checked whole into a `Mesh`.

Every mapping rejects keys it does not know: later sections arrive as new
keys, and a misspelt one never goes unnoticed. Every problem is reported at
once, each naming its path in the file
(`services.user.port.local: 50051 is already used by infrastructure.postgres`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import yaml

from protomesh.paths import ROOT
from protomesh.registry.callers import check_caller_names, check_identities, read_callers
from protomesh.registry.catalogue import RpcCatalogue, check_against
from protomesh.registry.cdc import read_cdc
from protomesh.registry.edge import read_edge
from protomesh.registry.events import check_event_flow
from protomesh.registry.limits import read_limits
from protomesh.registry.model import (
    ChangeCapture,
    Component,
    Database,
    Edge,
    Infrastructure,
    Mesh,
    Replica,
    Service,
    host_of,
)
from protomesh.registry.observability import read_observability
from protomesh.registry.reading import RULES, Reader, StrictLoader, join, suggest
from protomesh.registry.retention import read_retention
from protomesh.registry.workers import read_workers

DEFAULT_MESH_FILE = ROOT / "mesh.yaml"
# What the local cluster knows how to run; a new kind needs a cluster component too.
# smtp: where services that send mail (`depends_on: [smtp]`) hand it over; locally
# and in compose a mail sink that keeps every message (`protomesh mail`).
# payments: the external payment provider (locally, its sandbox).
INFRASTRUCTURE_KINDS = ("postgres", "nats", "smtp", "payments")
# Keys each kind needs beside `port`: NATS serves its health on an HTTP monitor port.
INFRASTRUCTURE_PORTS: dict[str, tuple[str, ...]] = {
    "postgres": (),
    "nats": ("monitor_port",),
    "smtp": (),
    "payments": (),
}


class RegistryError(Exception):
    """The registry is invalid; `problems` has one line per problem, each starting with its path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source} is invalid:\n  " + "\n  ".join(problems))


def load_mesh(path: Path = DEFAULT_MESH_FILE, catalogue: RpcCatalogue | None = None) -> Mesh:
    """The registry at `path`; with a `catalogue`, also checked against the contracts."""
    try:
        text = path.read_text()
    except OSError as error:
        raise RegistryError(str(path), [f"cannot read it: {error.strerror}"]) from None
    return parse_mesh(text, str(path), catalogue)


def parse_mesh(text: str, source: str = "mesh.yaml", catalogue: RpcCatalogue | None = None) -> Mesh:
    try:
        data = yaml.load(text, Loader=StrictLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "top level"
        raise RegistryError(source, [f"{where}: {error.problem}"]) from None
    reader = _MeshReader()
    mesh = reader.mesh(data)
    if mesh is not None and catalogue is not None and not reader.problems:
        reader.problems += check_against(mesh, catalogue)
    if mesh is None or reader.problems:
        raise RegistryError(source, reader.problems)
    return mesh


class _MeshReader(Reader):
    def mesh(self, data: object) -> Mesh | None:
        required = ("trust_domain", "environments", "services")
        top = self.mapping(
            data,
            "",
            required,
            optional=("infrastructure", "edge", "identities", "telemetry", "cdc"),
        )
        trust_domain = self.string(top, "trust_domain", "")
        environments = self.strings(top, "environments", "")
        if "environments" in top and not environments:
            self.fail("environments", "name at least one environment, e.g. [local]")
        infrastructure: dict[str, Infrastructure] = {}
        section = top.get("infrastructure", {})
        for name, value in self.mapping(
            section, "infrastructure", (), INFRASTRUCTURE_KINDS
        ).items():
            path = f"infrastructure.{name}"
            if name in INFRASTRUCTURE_KINDS:
                extra = INFRASTRUCTURE_PORTS[name]
                fields = self.mapping(value, path, required=("port", *extra))
                ports = self.ports(fields.get("port"), f"{path}.port", environments)
                monitor: Mapping[str, int] = {}
                if "monitor_port" in fields:
                    where = f"{path}.monitor_port"
                    monitor = self.ports(fields.get("monitor_port"), where, environments)
                infrastructure[name] = Infrastructure(name, ports, (), monitor)
        # Infrastructure starts in a fixed order (the database first), whatever the file says.
        infrastructure = {
            kind: infrastructure[kind] for kind in INFRASTRUCTURE_KINDS if kind in infrastructure
        }
        services: dict[str, Service] = {}
        for name, value in self.mapping(top.get("services", {}), "services", (), None).items():
            if not isinstance(name, str) or not RULES["name"][0].fullmatch(name):
                self.fail(f"services.{name}", "a name is lower-case letters, digits and '-'")
            elif name in infrastructure:
                self.fail(f"services.{name}", f"the name is already used by infrastructure.{name}")
            elif (service := self.service(name, value, environments)) is not None:
                services[name] = service
        edge = read_edge(self, top["edge"], environments, services) if "edge" in top else None
        identities = self.strings(top, "identities", "")
        telemetry = read_observability(self, top.get("telemetry", {}), environments)
        cdc = read_cdc(self, top.get("cdc", {}), environments, services)
        components: dict[str, Component] = {**infrastructure, **services}
        self.check_references(components)
        self.check_unique(components.values(), edge, cdc.values())
        order = self.start_order(components)
        if trust_domain is None:
            return None
        mesh = Mesh(
            trust_domain,
            environments,
            infrastructure,
            services,
            order,
            edge,
            identities,
            telemetry,
            cdc,
        )
        check_identities(self, identities, services)
        check_caller_names(self, services, mesh.known_identities)
        check_event_flow(self, services)
        return mesh

    def service(self, name: str, value: object, environments: tuple[str, ...]) -> Service | None:
        path = f"services.{name}"
        required = ("module", "env_prefix")
        optional = (
            *("port", "replicas", "database", "serves", "depends_on"),
            "metrics_port",
            *("callers", "end_user_from"),
            "limits",
            *("produces", "consumes"),
            "retention",
            "workers",
        )
        fields = self.mapping(value, path, required, optional)
        module = self.string(fields, "module", path)
        prefix = self.string(fields, "env_prefix", path)
        replicas = self.replicas(name, fields, path, environments)
        database = None
        if "database" in fields:
            where = f"{path}.database"
            raw = self.mapping(fields["database"], where, required=("schema", "role"))
            schema, role = self.string(raw, "schema", where), self.string(raw, "role", where)
            database = Database(schema, role) if schema and role else None
        serves = self.strings(fields, "serves", path)
        depends_on = self.strings(fields, "depends_on", path)
        callers = read_callers(self, fields.get("callers", {}), f"{path}.callers", serves)
        end_user_from = self.strings(fields, "end_user_from", path) or ("edge",)
        limits = read_limits(self, fields.get("limits", {}), f"{path}.limits", serves)
        produces = self.strings(fields, "produces", path)
        consumes = self.strings(fields, "consumes", path)
        retention = read_retention(self, fields.get("retention", {}), f"{path}.retention")
        workers = read_workers(self, fields, path, environments)
        if module is None or prefix is None:
            return None
        first = {
            environment: next(r.ports[environment] for r in replicas if environment in r.ports)
            for environment in environments
            if any(environment in r.ports for r in replicas)
        }
        return Service(
            name,
            first,
            depends_on,
            module,
            prefix,
            database,
            serves,
            replicas,
            callers,
            end_user_from,
            limits,
            produces,
            consumes,
            retention,
            workers,
        )

    def replicas(
        self, name: str, fields: dict[object, object], path: str, environments: tuple[str, ...]
    ) -> tuple[Replica, ...]:
        """`port` for a service that runs once; `replicas: [{port: ...}, ...]` for several.

        A replica names its port in the environments it runs in; each
        environment needs at least one replica. A `metrics_port` beside a port
        serves that process's Prometheus metrics.
        """
        if ("port" in fields) == ("replicas" in fields):
            self.fail(path, "give it either a port, or replicas (each with a port)")
            return ()
        if "port" in fields:
            ports = self.ports(fields["port"], f"{path}.port", environments)
            metrics = self._metrics_ports(fields, path, environments)
            return (Replica(name, 1, ports, metrics),)
        if "metrics_port" in fields:
            self.fail(f"{path}.metrics_port", "with replicas, give each replica its metrics_port")
        raw = fields["replicas"]
        if not isinstance(raw, list) or not raw:
            self.fail(f"{path}.replicas", "expected a list of replicas, each {port: {...}}")
            return ()
        replicas = []
        for index, item in enumerate(raw):
            where = f"{path}.replicas[{index}]"
            raw_replica = self.mapping(item, where, ("port",), ("metrics_port",))
            ports = self.ports(
                raw_replica.get("port", {}), f"{where}.port", environments, every=False
            )
            metrics = self._metrics_ports(raw_replica, where, environments)
            replicas.append(Replica(name, index + 1, ports, metrics))
        for environment in environments:
            if not any(environment in replica.ports for replica in replicas):
                self.fail(f"{path}.replicas", f"no replica has a port in {environment}")
        return tuple(replicas)

    def _metrics_ports(
        self, fields: dict[object, object], path: str, environments: tuple[str, ...]
    ) -> dict[str, int]:
        if "metrics_port" not in fields:
            return {}
        return dict(
            self.ports(fields["metrics_port"], f"{path}.metrics_port", environments, every=False)
        )

    def check_references(self, components: Mapping[str, Component]) -> None:
        for component in components.values():
            for index, target in enumerate(component.depends_on):
                where = f"{component.path}.depends_on[{index}]"
                if target not in components:
                    self.fail(where, f"{target} names no component{suggest(target, components)}")
            needs_postgres = isinstance(component, Service) and component.database is not None
            if needs_postgres and "postgres" not in component.depends_on:
                self.fail(f"{component.path}.database", "needs postgres in depends_on")

    def check_unique(
        self,
        components: Collection[Component],
        edge: Edge | None,
        captures: Collection[ChangeCapture] = (),
    ) -> None:
        """A host:port (per environment), a schema and a role each belong to one component.

        Locally every process shares 127.0.0.1, so ports must differ; in
        containers each replica is a host of its own (`order-1`, `order-2`),
        and replicas of one service may, and usually do, use the same port.
        """
        owners: dict[tuple[object, ...], str] = {}

        def claim(key: tuple[object, ...], where: str, owner: str, verb: str) -> None:
            other = owners.setdefault(key, owner)
            if other != owner:
                self.fail(where, f"{key[-1]} is already {verb} by {other}")

        def claim_ports(ports: Mapping[str, int], where: str, owner: str, host: str) -> None:
            for environment, port in ports.items():
                key = ("port", environment, host_of(environment, host), port)
                claim(key, join(where, environment), owner, "used")

        for component in components:
            path = component.path
            if isinstance(component, Infrastructure):
                claim_ports(component.ports, f"{path}.port", path, component.name)
                monitor = f"{path}.monitor_port"
                claim_ports(component.monitor_ports, monitor, monitor, component.name)
            if not isinstance(component, Service):
                continue
            for replica in component.replicas:
                single = len(component.replicas) == 1
                where = f"{path}.port" if single else f"{path}.replicas[{replica.number - 1}].port"
                owner = path if single else f"{path}.replicas[{replica.number - 1}]"
                for environment, port in replica.ports.items():
                    host = component.replica_name(replica, environment)
                    claim_ports({environment: port}, where, owner, host)
                metrics_at = where.removesuffix(".port") + ".metrics_port"
                for environment, port in replica.metrics_ports.items():
                    host = component.replica_name(replica, environment)
                    claim_ports({environment: port}, metrics_at, metrics_at, host)
            if component.database is not None:
                schema, role = component.database.schema, component.database.role
                claim(("schema", schema), f"{path}.database.schema", path, "owned")
                claim(("role", role), f"{path}.database.role", path, "used")
        for capture in captures:
            where = f"cdc.{capture.service}"
            claim(("role", capture.role), f"{where}.role", where, "used")
            claim_ports(capture.metrics_ports, f"{where}.metrics_port", where, capture.name)
        if edge is not None:
            claim_ports(edge.ports, "edge.port", "edge.port", "edge")
            claim_ports(edge.admin_ports, "edge.admin_port", "edge.admin_port", "edge")

    def start_order(self, components: Mapping[str, Component]) -> tuple[str, ...]:
        """Each component after the ones it depends on; ties keep the file's order."""
        order: list[str] = []
        pending = dict(components)
        while pending:
            ready = [n for n, c in pending.items() if not set(c.depends_on) & set(pending)]
            if not ready:
                stuck = next(iter(pending.values()))
                self.fail(f"{stuck.path}.depends_on", f"a cycle among {', '.join(pending)}")
                break
            order += ready
            for name in ready:
                del pending[name]
        return tuple(order)
