"""The strict JSON check's schema: which keys each REST body may hold, from the contracts."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2

from gateway.strict_json import lua_source
from gateway.strict_json_schema import ANYTHING, Kind, lua_pattern, strict_schema
from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import RpcCatalogue
from tests.support.synthetic_contracts import GARDENS, synthetic

CATALOGUE = RpcCatalogue.load(DESCRIPTOR_SET)
ORDERS = "shop.order.v1.OrderService"


def contracts() -> descriptor_pb2.FileDescriptorSet:
    assert CATALOGUE.contracts is not None
    return CATALOGUE.contracts


def test_a_body_reaches_nested_and_repeated_messages_by_both_names() -> None:
    schema = strict_schema(contracts(), [(ORDERS, "PlaceOrder", True)])
    (binding,) = schema.bindings
    assert (binding.verb, binding.pattern, binding.field_path) == ("POST", "^/v1/orders$", "")
    assert binding.body == Kind("shop.order.v1.PlaceOrderRequest")
    request = schema.messages["shop.order.v1.PlaceOrderRequest"]
    assert request == {
        "customer_id": ANYTHING,
        "customerId": ANYTHING,
        "items": Kind("shop.order.v1.LineItem"),
    }
    item = schema.messages["shop.order.v1.LineItem"]
    assert item["unit_price"] == item["unitPrice"] == Kind("shop.order.v1.Money")
    assert set(schema.messages["shop.order.v1.Money"]) == {
        "currency_code",
        "currencyCode",
        "amount_minor",
        "amountMinor",
    }


def test_only_bindings_with_a_body_are_listed_and_a_custom_verb_matches_first() -> None:
    rpcs = [(ORDERS, name, True) for name in CATALOGUE.services[ORDERS]]
    schema = strict_schema(contracts(), rpcs)
    assert [b.template for b in schema.bindings] == ["/v1/orders/{order_id}:cancel", "/v1/orders"]


def test_a_route_with_strict_json_off_is_listed_unchecked() -> None:
    """Listed all the same: its path must not fall through to another binding's check."""
    schema = strict_schema(contracts(), [(ORDERS, "PlaceOrder", False)])
    assert [(b.rpc, b.body) for b in schema.bindings] == [(f"{ORDERS}/PlaceOrder", None)]
    assert schema.messages == {}


@pytest.mark.parametrize(
    ("template", "pattern"),
    [
        ("/v1/users", "^/v1/users$"),
        ("/v1/users/{user_id}", "^/v1/users/[^/]+$"),
        ("/v1/orders/{order_id}:cancel", "^/v1/orders/[^/]+:cancel$"),
        ("/v1/{name=shelves/*/books/*}", "^/v1/shelves/[^/]+/books/[^/]+$"),
        ("/v1/files/**", "^/v1/files/.*$"),
        ("/v1/a.b-c", "^/v1/a%.b%-c$"),
    ],
)
def test_path_templates_become_anchored_lua_patterns(template: str, pattern: str) -> None:
    assert lua_pattern(template) == pattern


def test_maps_well_known_types_recursion_and_a_body_field() -> None:
    schema = strict_schema(synthetic(), [(GARDENS, "Plant", True)])
    by_verb = {b.verb: b for b in schema.bindings}
    assert (by_verb["POST"].body, by_verb["POST"].field_path) == (Kind("test.v1.Tree"), "tree")
    assert (by_verb["PUT"].body, by_verb["PUT"].field_path) == (Kind("test.v1.PlantRequest"), "")
    tree = schema.messages["test.v1.Tree"]
    assert tree["children"] == Kind("test.v1.Tree")  # itself, repeated
    assert tree["by_name"] == tree["byName"] == Kind("test.v1.Tree", map_values=True)
    assert tree["tags"] == ANYTHING  # a map of strings: any keys, any values
    assert tree["extra"] == tree["planted"] == ANYTHING  # Struct; Timestamp is a string
    assert "test.v1.Tree.ByNameEntry" not in schema.messages


def test_the_lua_source_holds_the_tables_before_the_scanner() -> None:
    source = lua_source(strict_schema(synthetic(), [(GARDENS, "Plant", True)]))
    assert '["by_name"] = {"test.v1.Tree"}' in source
    assert '["children"] = "test.v1.Tree"' in source
    assert '{"^/v1/gardens/[^/]+/trees$", "test.v1.Tree", "tree"},' in source
    assert source.index("local BINDINGS") < source.index("function envoy_on_request")
    unchecked = lua_source(strict_schema(synthetic(), [(GARDENS, "Plant", False)]))
    assert '{"^/v1/gardens/[^/]+/trees$", false, "tree"},' in unchecked
