from __future__ import annotations

from protomesh.bus.cloudevents import CE_TYPE, MSG_ID
from protomesh.bus.dead_letters import (
    CONSUMER,
    DELIVERIES,
    ORIGINAL_MSG_ID,
    REASON,
    STREAM,
    STREAM_SEQUENCE,
    dead_letter_headers,
    dead_letter_subject,
)


def park(consumer: str = "c", reason: str = "bad") -> dict[str, str]:
    return dead_letter_headers(
        {MSG_ID: "event-7", CE_TYPE: "shop.x.events.v1.Y"},
        reason=reason,
        deliveries=4,
        consumer=consumer,
        stream="ORDER_EVENTS",
        stream_sequence=12,
    )


def test_the_subject_keeps_the_original_under_dlq() -> None:
    assert dead_letter_subject("order.events.v1.OrderPlaced") == "dlq.order.events.v1.OrderPlaced"


def test_original_headers_are_kept_and_the_parking_recorded() -> None:
    headers = park()
    assert headers[CE_TYPE] == "shop.x.events.v1.Y"
    assert headers[ORIGINAL_MSG_ID] == "event-7"
    assert headers[REASON] == "bad"
    assert headers[DELIVERIES] == "4"
    assert headers[CONSUMER] == "c"
    assert (headers[STREAM], headers[STREAM_SEQUENCE]) == ("ORDER_EVENTS", "12")


def test_two_consumers_parking_one_event_are_not_deduplicated_away() -> None:
    assert park(consumer="a")[MSG_ID] != park(consumer="b")[MSG_ID]
    assert park(consumer="a")[MSG_ID] == park(consumer="a")[MSG_ID]


def test_reasons_become_one_bounded_line() -> None:
    reason = park(reason="line one\nline two\t" + "x" * 2000)[REASON]
    assert "\n" not in reason
    assert reason.startswith("line one line two x")
    assert len(reason) == 500


def test_parking_a_message_without_headers_still_records_why() -> None:
    headers = dead_letter_headers(
        None, reason="garbage", deliveries=1, consumer="c", stream="S", stream_sequence=1
    )
    assert headers[REASON] == "garbage"
    assert ORIGINAL_MSG_ID not in headers
