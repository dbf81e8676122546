"""mesh.yaml's per-service `workers:`: server processes per replica, checked on load."""

from __future__ import annotations

from typing import Any

import pytest

from protomesh.registry import DEFAULT_MESH_FILE, load_mesh, parse_mesh
from protomesh.registry.workers import workers_setting
from tests.unit.protomesh.registry.test_registry import mesh_with, problems_in


def with_workers(workers: object) -> str:
    def change(document: dict[str, Any]) -> None:
        document["services"]["user"]["workers"] = workers

    return mesh_with(change)


def test_without_workers_one_process_locally_and_one_per_core_elsewhere() -> None:
    workers = parse_mesh(mesh_with(lambda _: None)).services["user"].workers
    assert workers == {"local": 1, "compose": None}
    assert [workers_setting(workers[e]) for e in ("local", "compose")] == ["1", "auto"]


def test_a_number_or_auto_holds_in_every_environment() -> None:
    assert parse_mesh(with_workers(3)).services["user"].workers == {"local": 3, "compose": 3}
    everywhere = parse_mesh(with_workers("auto")).services["user"].workers
    assert everywhere == {"local": None, "compose": None}


def test_each_environment_may_have_its_own() -> None:
    workers = parse_mesh(with_workers({"local": 2, "compose": "auto"})).services["user"].workers
    assert workers == {"local": 2, "compose": None}


@pytest.mark.parametrize("bad", [0, -1, "two", 1.5, True, None, [2]])
def test_a_bad_count_is_named_by_its_path(bad: object) -> None:
    assert problems_in(with_workers(bad)) == [
        f"services.user.workers: {bad!r} is not a whole number >= 1, auto, or {{environment: ...}}"
    ]


def test_a_per_environment_count_names_its_environment() -> None:
    assert problems_in(with_workers({"local": 0, "compose": 2})) == [
        "services.user.workers.local: 0 is not a whole number >= 1, auto, or {environment: ...}"
    ]
    assert problems_in(with_workers({"local": 1})) == [
        "services.user.workers.compose: required but missing"
    ]
    assert problems_in(with_workers({"local": 1, "compose": 1, "staging": 2})) == [
        "services.user.workers.staging: unknown key (expected one of: local, compose)"
    ]


def test_the_checked_in_mesh_gives_every_service_a_count_everywhere() -> None:
    mesh = load_mesh(DEFAULT_MESH_FILE)
    for service in mesh.services.values():
        assert set(service.workers) == set(mesh.environments), service.name
