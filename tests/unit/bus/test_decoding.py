from __future__ import annotations

import pytest
from shop.order.events.v1 import events_pb2

from protomesh.bus.cloudevents import CE_ID, CE_SOURCE, CE_TYPE, MSG_ID, SCHEMA_VERSION
from protomesh.bus.decoding import EventTypes, Undecodable, major_version
from protomesh.telemetry.propagation import TRACEPARENT

PLACED = "shop.order.events.v1.OrderPlaced"
TYPES = EventTypes([events_pb2.OrderPlaced, events_pb2.OrderCancelled])


def headers(**overrides: str) -> dict[str, str]:
    return {
        MSG_ID: "e-1",
        CE_ID: "e-1",
        CE_TYPE: PLACED,
        CE_SOURCE: "/shop/order",
        SCHEMA_VERSION: "1",
        TRACEPARENT: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        **overrides,
    }


def placed_bytes() -> bytes:
    return events_pb2.OrderPlaced(order_id="o-1", customer_id="c-1").SerializeToString()


def test_decodes_a_known_event_with_its_envelope() -> None:
    event = TYPES.decode("order.events.v1.OrderPlaced", headers(), placed_bytes(), delivery=3)
    assert isinstance(event.message, events_pb2.OrderPlaced)
    assert event.message.order_id == "o-1"
    assert (event.id, event.type, event.schema_version) == ("e-1", PLACED, "1")
    assert event.source == "/shop/order"
    assert event.traceparent is not None
    assert event.traceparent.startswith("00-0af7")
    assert event.delivery == 3


def test_the_msg_id_stands_in_for_a_missing_ce_id() -> None:
    only_msg_id = headers()
    del only_msg_id[CE_ID]
    assert TYPES.decode("s", only_msg_id, placed_bytes()).id == "e-1"


@pytest.mark.parametrize(
    ("changed", "reason"),
    [
        ({CE_TYPE: "shop.order.events.v1.OrderExploded"}, "unknown event type"),
        ({SCHEMA_VERSION: "2"}, "unknown major schema version 2"),
        ({SCHEMA_VERSION: "two"}, "is not a version"),
        ({CE_ID: "", MSG_ID: ""}, "no event id"),
    ],
)
def test_unknown_envelopes_are_undecodable(changed: dict[str, str], reason: str) -> None:
    with pytest.raises(Undecodable, match=reason):
        TYPES.decode("s", headers(**changed), placed_bytes())


def test_missing_headers_are_undecodable() -> None:
    with pytest.raises(Undecodable, match="no event id"):
        TYPES.decode("s", None, placed_bytes())


def test_a_payload_that_does_not_parse_is_undecodable() -> None:
    with pytest.raises(Undecodable, match=r"not a valid shop\.order\.events\.v1\.OrderPlaced"):
        TYPES.decode("s", headers(), b"not protobuf")


@pytest.mark.parametrize(("text", "major"), [("1", 1), ("1.4", 1), ("v2", 2), (" 3 ", 3)])
def test_the_major_version_is_read_from_common_spellings(text: str, major: int) -> None:
    assert major_version(text) == major


def test_event_classes_must_live_in_a_versioned_package() -> None:
    from google.protobuf import timestamp_pb2

    with pytest.raises(ValueError, match="end in a version"):
        EventTypes([timestamp_pb2.Timestamp])


def test_names_lists_the_known_types() -> None:
    assert TYPES.names() == ["shop.order.events.v1.OrderCancelled", PLACED]
