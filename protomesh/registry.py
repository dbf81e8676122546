"""mesh.yaml, the one registry the rest of the mesh is derived from.

Read into frozen dataclasses and checked whole before anything uses it, so a
mistake fails with every problem listed, each naming its path in the file
(`services.user.port.local: 50051 is already used by infrastructure.postgres`).
Every mapping rejects keys it does not know: later sections (edge routes,
policies, callers) arrive as new keys, and a misspelt one never goes unnoticed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from protomesh.paths import ROOT

DEFAULT_MESH_FILE = ROOT / "mesh.yaml"
# What the local cluster knows how to run; a new kind needs a cluster component too.
INFRASTRUCTURE_KINDS = ("postgres",)

_NAME = re.compile(r"[a-z][a-z0-9-]*")
_SQL_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # unquoted PostgreSQL identifiers
_PROTO_SERVICE = re.compile(r"([a-z_][a-z0-9_]*\.)+[A-Z][A-Za-z0-9]*")
# What each string-valued key must look like, and how to say so when it does not.
_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "trust_domain": (re.compile(r"[a-z0-9][a-z0-9._-]*"), "a trust domain like protomesh.local"),
    "environments": (_NAME, "an environment name like local"),
    "module": (re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*"), "a module like services.user"),
    "env_prefix": (re.compile(r"[A-Z][A-Z0-9_]*_"), "a prefix like USER_SERVICE_"),
    "schema": (_SQL_NAME, "a lower-case SQL name"),
    "role": (_SQL_NAME, "a lower-case SQL name"),
    "serves": (_PROTO_SERVICE, "a proto service like shop.user.v1.UserService"),
    "depends_on": (_NAME, "a component name"),
}
_Keys = Collection[str] | None
Ports = Mapping[str, int]  # by environment


class RegistryError(Exception):
    """The registry is invalid; `problems` has one line per problem, each starting with its path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source} is invalid:\n  " + "\n  ".join(problems))


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
class Service(Component):
    section: ClassVar[str] = "services"
    module: str
    env_prefix: str
    database: Database | None
    serves: tuple[str, ...]


@dataclass(frozen=True)
class Mesh:
    trust_domain: str
    environments: tuple[str, ...]
    infrastructure: Mapping[str, Component]
    services: Mapping[str, Service]
    start_order: tuple[str, ...]  # every component after the ones it depends on

    def component(self, name: str) -> Component:
        return self.infrastructure.get(name) or self.services[name]


def load_mesh(path: Path = DEFAULT_MESH_FILE) -> Mesh:
    try:
        text = path.read_text()
    except OSError as error:
        raise RegistryError(str(path), [f"cannot read it: {error.strerror}"]) from None
    return parse_mesh(text, str(path))


def parse_mesh(text: str, source: str = "mesh.yaml") -> Mesh:
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "top level"
        raise RegistryError(source, [f"{where}: {error.problem}"]) from None
    reader = _Reader()
    mesh = reader.mesh(data)
    if mesh is None or reader.problems:
        raise RegistryError(source, reader.problems)
    return mesh


class _StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; in a registry that silently drops a service."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: list[Any] = []  # a list: the base class reports unhashable keys, not us
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.append(key)
        return super().construct_mapping(node, deep)


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _suggest(key: object, known: Collection[str]) -> str:
    close = difflib.get_close_matches(str(key), list(known), n=1)
    if close:
        return f" (did you mean {close[0]}?)"
    return f" (expected one of: {', '.join(known)})" if known else ""


class _Reader:
    """Walks the parsed YAML, collecting every problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path or 'top level'}: {message}")

    def mapping(
        self, value: object, path: str, required: Collection[str] = (), optional: _Keys = ()
    ) -> dict[Any, Any]:
        """The mapping at `path`; `optional=None` allows any key."""
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping, got {type(value).__name__}")
            return {}
        known = [*required, *(optional or ())]
        for key in value:
            if optional is not None and key not in known:
                self.fail(_join(path, key), f"unknown key{_suggest(key, known)}")
        for key in required:
            if key not in value:
                self.fail(_join(path, key), "required but missing")
        return value

    def string(self, fields: dict[Any, Any], key: str, path: str) -> str | None:
        pattern, what = _RULES[key]
        value = fields.get(key)
        if key in fields and not (isinstance(value, str) and pattern.fullmatch(value)):
            self.fail(_join(path, key), f"{value!r} is not {what}")
            return None
        return value

    def strings(self, fields: dict[Any, Any], key: str, path: str) -> tuple[str, ...]:
        pattern, what = _RULES[key]
        value = fields.get(key, [])
        if not isinstance(value, list):
            self.fail(_join(path, key), f"expected a list, got {type(value).__name__}")
            return ()
        items: list[str] = []
        for index, item in enumerate(value):
            where = f"{_join(path, key)}[{index}]"
            if not isinstance(item, str) or not pattern.fullmatch(item):
                self.fail(where, f"{item!r} is not {what}")
            elif item in items:
                self.fail(where, f"{item} is listed twice")
            else:
                items.append(item)
        return tuple(items)

    def ports(self, fields: dict[Any, Any], path: str, environments: tuple[str, ...]) -> Ports:
        where = _join(path, "port")
        raw = self.mapping(fields["port"], where, environments) if "port" in fields else {}
        ports: dict[str, int] = {}
        for environment, value in raw.items():
            if environment not in environments:
                continue
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
                ports[environment] = value
            else:
                self.fail(f"{where}.{environment}", f"{value!r} is not a port number (1-65535)")
        return ports

    def mesh(self, data: object) -> Mesh | None:
        required = ("trust_domain", "environments", "services")
        top = self.mapping(data, "", required, optional=("infrastructure",))
        trust_domain = self.string(top, "trust_domain", "")
        environments = self.strings(top, "environments", "")
        if "environments" in top and not environments:
            self.fail("environments", "name at least one environment, e.g. [local]")
        infrastructure: dict[str, Component] = {}
        section = top.get("infrastructure", {})
        for name, value in self.mapping(
            section, "infrastructure", (), INFRASTRUCTURE_KINDS
        ).items():
            path = f"infrastructure.{name}"
            if name in INFRASTRUCTURE_KINDS:
                fields = self.mapping(value, path, required=("port",))
                ports = self.ports(fields, path, environments)
                infrastructure[name] = Component(name, ports, ())
        services: dict[str, Service] = {}
        for name, value in self.mapping(top.get("services", {}), "services", (), None).items():
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                self.fail(f"services.{name}", "a name is lower-case letters, digits and '-'")
            elif name in infrastructure:
                self.fail(f"services.{name}", f"the name is already used by infrastructure.{name}")
            elif (service := self.service(name, value, environments)) is not None:
                services[name] = service
        components: dict[str, Component] = {**infrastructure, **services}
        self.check_references(components)
        self.check_unique(components.values())
        order = self.start_order(components)
        if trust_domain is None:
            return None
        return Mesh(trust_domain, environments, infrastructure, services, order)

    def service(self, name: str, value: object, environments: tuple[str, ...]) -> Service | None:
        path = f"services.{name}"
        required = ("module", "env_prefix", "port")
        fields = self.mapping(value, path, required, ("database", "serves", "depends_on"))
        module = self.string(fields, "module", path)
        prefix = self.string(fields, "env_prefix", path)
        ports = self.ports(fields, path, environments)
        database = None
        if "database" in fields:
            where = f"{path}.database"
            raw = self.mapping(fields["database"], where, required=("schema", "role"))
            schema, role = self.string(raw, "schema", where), self.string(raw, "role", where)
            database = Database(schema, role) if schema and role else None
        serves = self.strings(fields, "serves", path)
        depends_on = self.strings(fields, "depends_on", path)
        if module is None or prefix is None:
            return None
        return Service(name, ports, depends_on, module, prefix, database, serves)

    def check_references(self, components: Mapping[str, Component]) -> None:
        for component in components.values():
            for index, target in enumerate(component.depends_on):
                where = f"{component.path}.depends_on[{index}]"
                if target not in components:
                    self.fail(where, f"{target} names no component{_suggest(target, components)}")
            needs_postgres = isinstance(component, Service) and component.database is not None
            if needs_postgres and "postgres" not in component.depends_on:
                self.fail(f"{component.path}.database", "needs postgres in depends_on")

    def check_unique(self, components: Collection[Component]) -> None:
        """A port (per environment), a schema and a role each belong to one component."""
        owners: dict[tuple[object, ...], str] = {}

        def claim(key: tuple[object, ...], where: str, owner: str, verb: str) -> None:
            other = owners.setdefault(key, owner)
            if other != owner:
                self.fail(where, f"{key[-1]} is already {verb} by {other}")

        for component in components:
            path = component.path
            for environment, port in component.ports.items():
                claim(("port", environment, port), f"{path}.port.{environment}", path, "used")
            if isinstance(component, Service) and component.database is not None:
                schema, role = component.database.schema, component.database.role
                claim(("schema", schema), f"{path}.database.schema", path, "owned")
                claim(("role", role), f"{path}.database.role", path, "used")

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
