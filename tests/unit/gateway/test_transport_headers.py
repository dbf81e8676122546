"""The transport-header check gets what it needs from the rendered config."""

from __future__ import annotations

from gateway.early_headers import ENVOY_ONLY
from gateway.local_replies import GRPC_CODE_OF_HTTP_STATUS
from gateway.status_header import status_header_filter
from gateway.transport_headers import FILTER_NAME, TIMEOUT_KEY
from tests.unit.gateway.test_render import manager, rendered, routes


def test_every_rpc_route_tells_the_check_its_timeout_in_milliseconds() -> None:
    table = routes(rendered())
    get_user = table["shop.user.v1.UserService/GetUser"]
    assert get_user["metadata"]["filter_metadata"][FILTER_NAME] == {TIMEOUT_KEY: 2000}
    place_order = table["shop.order.v1.OrderService/PlaceOrder"]
    assert place_order["metadata"]["filter_metadata"][FILTER_NAME] == {TIMEOUT_KEY: 3000}
    assert "metadata" not in table["unrouted"]


def test_headers_only_the_transcoder_sets_are_removed_before_any_filter() -> None:
    mutations = manager(rendered())["early_header_mutation_extensions"]
    removed = [m["remove"] for m in mutations[0]["typed_config"]["mutations"]]
    assert removed == list(ENVOY_ONLY)


def test_rest_replies_get_the_status_their_body_holds() -> None:
    source = status_header_filter()["typed_config"]["default_source_code"]["inline_string"]
    for http_status, grpc_code in GRPC_CODE_OF_HTTP_STATUS.items():
        assert f"[{http_status}] = {grpc_code}" in source
    assert "[200] = 0" in source
