"""The `cdc` section of mesh.yaml: which service's tables a change-capture worker watches."""

from __future__ import annotations

from typing import Any

from protomesh.registry import ChangeCapture, parse_mesh
from tests.unit.test_registry import mesh_with, problems_in

GOOD = {
    "tables": {"users": "shop.user.changes.v1.UserChanged"},
    "role": "user_cdc",
    "metrics_port": {"local": 9470, "compose": 9464},
}


def with_cdc(section: dict[str, Any]) -> str:
    return mesh_with(lambda document: document.update(cdc=section))


def test_a_capture_names_its_service_tables_role_and_metrics_port() -> None:
    mesh = parse_mesh(with_cdc({"user": GOOD}))
    assert mesh.cdc == {
        "user": ChangeCapture(
            "user",
            {"users": "shop.user.changes.v1.UserChanged"},
            "user_cdc",
            {"local": 9470, "compose": 9464},
        )
    }
    assert mesh.cdc["user"].name == "user-cdc"
    assert parse_mesh(mesh_with(lambda d: None)).cdc == {}


def test_each_problem_is_named_by_its_path() -> None:
    assert problems_in(
        with_cdc(
            {
                "usr": GOOD,
                "user": {
                    "tables": {
                        "Users": "x",
                        "orders": "not a message",
                        "users": "shop.user.changes.v1.UserChanged",
                    },
                    "role": "user_svc",
                    "metrics_port": {"local": 50051},
                    "slot": "mine",
                },
            }
        )
    ) == [
        "cdc.usr: usr names no service (did you mean user?)",
        "cdc.user.slot: unknown key (expected one of: tables, role, metrics_port)",
        "cdc.user.role: the worker needs a role of its own, not the service's",
        "cdc.user.tables.Users: a table is a lower-case SQL name",
        "cdc.user.tables.orders: 'not a message' is not a proto message like "
        "shop.order.changes.v1.OrderChanged",
        "cdc.user.metrics_port.compose: required but missing",
        "cdc.user.role: user_svc is already used by services.user",
        "cdc.user.metrics_port.local: 50051 is already used by services.user",
    ]


def test_only_a_service_with_a_database_can_be_watched() -> None:
    def change(document: dict[str, Any]) -> None:
        del document["services"]["user"]["database"]
        document["cdc"] = {"user": GOOD}

    assert problems_in(mesh_with(change)) == [
        "cdc.user: services.user has no database whose tables could be watched"
    ]


def test_the_checked_in_mesh_captures_the_order_tables() -> None:
    from protomesh.registry import load_mesh

    capture = load_mesh().cdc["order"]
    assert capture.tables == {"orders": "shop.order.changes.v1.OrderChanged"}
    assert capture.role != load_mesh().services["order"].database.role  # type: ignore[union-attr]
