"""stream_for: which declared stream captures a subject (the relay's metric label)."""

from __future__ import annotations

import pytest

from protomesh.bus.streams import StreamSpec, stream_for
from tests.support.nats import MESH_STREAMS

ONE_TOKEN = StreamSpec("ONE", ("audit.*.done",), "one token wildcard")


@pytest.mark.parametrize(
    ("subject", "stream"),
    [
        ("order.events.v1.OrderPlaced", "ORDER_EVENTS"),
        ("user.events.v1.UserRegistered", "USER_EVENTS"),
        ("dlq.order.events.v1.OrderPlaced", "DEAD_LETTERS"),
        ("order.events", None),  # `>` needs at least one more token
        ("orders.events.v1.X", None),
        ("billing.events.v1.Paid", None),
    ],
)
def test_the_mesh_streams_capture_their_contexts_subjects(subject: str, stream: str | None) -> None:
    assert stream_for(subject, MESH_STREAMS) == stream


@pytest.mark.parametrize(
    ("subject", "captured"),
    [("audit.x.done", True), ("audit.x.y.done", False), ("audit.done", False)],
)
def test_a_star_is_exactly_one_token(subject: str, captured: bool) -> None:
    assert (stream_for(subject, [ONE_TOKEN]) == "ONE") is captured
