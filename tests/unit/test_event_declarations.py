"""What each service's consumers decode is what mesh.yaml says it consumes.

The registry checks the declarations against each other and the contracts;
this checks them against the code: a consumer reading a type its service
does not declare would be invisible in `protomesh events`.
"""

from __future__ import annotations

import pytest

from protomesh.bus.decoding import EventTypes
from protomesh.registry import load_mesh
from services.order.customer_directory import EVENT_TYPES as ORDER_CUSTOMERS
from services.reporting.facts import ORDER_TYPES, USER_TYPES
from services.user.order_counts import EVENT_TYPES as USER_ORDER_COUNTS

MESH = load_mesh()


@pytest.mark.parametrize(
    ("service", "readers"),
    [
        ("user", [USER_ORDER_COUNTS]),
        ("order", [ORDER_CUSTOMERS]),
        ("reporting", [ORDER_TYPES, USER_TYPES]),
    ],
)
def test_a_service_consumes_exactly_what_its_consumers_decode(
    service: str, readers: list[EventTypes]
) -> None:
    decoded = sorted(name for reader in readers for name in reader.names())
    assert decoded == sorted(MESH.services[service].consumes)
