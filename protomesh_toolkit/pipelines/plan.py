"""The pipelines and what belongs to each: the paths that trigger it and the tests it runs.

One pipeline per service in mesh.yaml, one for the runtime (protomesh, the toolkit, the
edge renderer) and one for the contracts (proto/, contracts/). A pipeline's paths are its
own folders plus every file its code and its tests need, from the graph: the runtime
modules a service imports, the protos it serves and the ones it consumes (and their
imports), the contract files it records or verifies, the test support its tests use.
Two rules keep a change where it belongs: another service's code never triggers a
service's pipeline (a test shared by two services runs in both), and the runtime's
pipeline does not follow into the services' protos (their own pipelines do).

A test belongs to a service when it imports (directly or not) that service's code or its
contracts, to the contracts pipeline when it uses the contract checks, and otherwise to
the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from protomesh.registry import Mesh
from protomesh_toolkit.contracts.consumers.model import CONTRACTS_DIR
from protomesh_toolkit.pipelines.globs import compact
from protomesh_toolkit.pipelines.graph import GENERATED, RepoGraph, under

RUNTIME = "runtime"
CONTRACTS = "contracts"
WORKFLOWS_DIR = Path(".github") / "workflows"
# What every pipeline installs or builds from: a change here runs them all.
SHARED = ("pyproject.toml", "Makefile", "Dockerfile", ".dockerignore")
RUNTIME_PACKAGES = ("protomesh", "protomesh_toolkit", "gateway")
RUNTIME_PATHS = (
    "protomesh/**",
    "protomesh_toolkit/**",
    "gateway/**",
    "envoy/**",
    "certs/**",
    "deploy/**",
    "docker-compose.yml",
    "mesh.yaml",
    "tests/conftest.py",
    "tests/support/**",
)
CONTRACT_PACKAGE = "protomesh_toolkit.contracts"
CONTRACT_PATHS = ("buf.yaml", "proto/**", "third_party/**", f"{CONTRACTS_DIR.name}/**")


@dataclass(frozen=True)
class Pipeline:
    name: str
    kind: str  # "service", "runtime" or "contracts"
    paths: tuple[str, ...]
    tests: tuple[str, ...]

    @property
    def workflow(self) -> str:
        return (WORKFLOWS_DIR / f"{self.name}.yml").as_posix()


def contexts(mesh: Mesh) -> dict[str, str]:
    """Proto context → the service that owns it: `shop.user` → user (from `serves`)."""
    owners = {}
    for name, service in mesh.services.items():
        for served in service.serves:
            owners[".".join(served.split(".")[:2])] = name
    return owners


def _owners(module: str, owners: dict[str, str]) -> set[str]:
    found = set()
    parts = module.split(".")
    if parts[0] == "services" and len(parts) > 1:
        found.add(parts[1])
    if parts[0] == GENERATED and len(parts) > 1 and (owner := owners.get(".".join(parts[:2]))):
        found.add(owner)
    if under(module, CONTRACT_PACKAGE):
        found.add(CONTRACTS)
    return found


def owned_tests(graph: RepoGraph, mesh: Mesh) -> dict[str, set[str]]:
    owners = contexts(mesh)
    found: dict[str, set[str]] = {name: set() for name in (*mesh.services, RUNTIME, CONTRACTS)}
    for test in graph.test_modules():
        belongs = set().union(*(_owners(m, owners) for m in graph.closure([test])))
        for name in belongs & set(found) or {RUNTIME}:
            found[name].add(test)
    return found


def _needed_files(graph: RepoGraph, modules: set[str], service: str | None) -> set[str]:
    files: set[str] = set()
    protos: set[str] = set()
    own = f"services.{service}" if service is not None else None
    for module in graph.closure(modules):
        # Another service's code is its own pipeline's business; the runtime and the
        # contracts pipelines do not follow into the services' generated contracts.
        if under(module, "services") and (own is None or not under(module, own)):
            continue
        if under(module, GENERATED) and service is None:
            continue
        path = graph.file_of(module)
        if path is None:
            continue
        (protos if path.endswith(".proto") else files).add(path)
    return files | graph.proto_closure(protos)


def _test_files(graph: RepoGraph, tests: set[str]) -> set[str]:
    files = {path for test in tests if (path := graph.file_of(test)) is not None}
    return files | set().union(*(graph.conftests_of(path) for path in files))


def _contract_files(service: str) -> list[str]:
    folder = CONTRACTS_DIR.name
    return [f"{folder}/{service}/**", f"{folder}/*/{service}-*.json"]


def plan(graph: RepoGraph, mesh: Mesh) -> tuple[Pipeline, ...]:
    tests = owned_tests(graph, mesh)
    pipelines = []
    for name, kind, own_modules, own_paths, service in [
        (
            RUNTIME,
            "runtime",
            set().union(*(graph.modules(p) for p in RUNTIME_PACKAGES)),
            RUNTIME_PATHS,
            None,
        ),
        (CONTRACTS, "contracts", graph.modules(CONTRACT_PACKAGE), CONTRACT_PATHS, None),
        *(
            (
                name,
                "service",
                graph.modules(f"services.{name}"),
                (f"services/{name}/**", *_contract_files(name), "mesh.yaml"),
                name,
            )
            for name in mesh.services
        ),
    ]:
        workflow = (WORKFLOWS_DIR / f"{name}.yml").as_posix()
        needed = _needed_files(graph, own_modules | tests[name], service)
        needed |= _test_files(graph, tests[name])
        keep = [*own_paths, *SHARED, workflow]
        paths = compact(needed, graph.tracked, keep)
        test_files = sorted(
            path for test in tests[name] if (path := graph.file_of(test)) is not None
        )
        pipelines.append(Pipeline(name, kind, tuple(paths), tuple(test_files)))
    return tuple(pipelines)


def current_plan(root: Path) -> tuple[Pipeline, ...]:
    """The pipelines of the checkout at `root` (its mesh.yaml, its sources, gen/ built)."""
    from protomesh.registry import load_mesh

    return plan(RepoGraph.build(root), load_mesh(root / "mesh.yaml"))
