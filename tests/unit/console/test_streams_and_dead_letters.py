"""Consumer lag from NATS's /jsz, and the headers a replayed dead letter is published with."""

from __future__ import annotations

from protomesh.bus.dead_letters import dead_letter_headers
from protomesh_toolkit.console.dead_letters import DeadLetter
from protomesh_toolkit.console.streams import read

JSZ = {
    "account_details": [
        {
            "stream_detail": [
                {
                    "name": "ORDER_EVENTS",
                    "state": {"messages": 7, "last_seq": 9},
                    "consumer_detail": [
                        {
                            "name": "user-order-counts",
                            "num_pending": 2,
                            "num_ack_pending": 1,
                            "num_redelivered": 0,
                            "num_waiting": 1,
                        }
                    ],
                },
                {"name": "DEAD_LETTERS", "state": {"messages": 1, "last_seq": 1}},
            ]
        }
    ]
}


def test_jsz_gives_each_durable_its_lag_and_whether_anyone_pulls() -> None:
    dead, orders = read(JSZ)
    assert (dead.name, dead.messages, dead.consumers) == ("DEAD_LETTERS", 1, ())
    [counts] = orders.consumers
    assert (counts.durable, counts.lag, counts.waiting) == ("user-order-counts", 3, 1)


def test_a_replay_keeps_the_event_but_not_the_parking_record_and_gets_a_new_message_id() -> None:
    original = {"Nats-Msg-Id": "evt-1", "ce-id": "evt-1", "ce-type": "shop.x.v1.Y"}
    parked = dead_letter_headers(
        original, reason="bad", deliveries=5, consumer="c", stream="S", stream_sequence=3
    )
    letter = DeadLetter(
        42, "x.events.v1.Y", "bad", "c", "5", "shop.x.v1.Y", "evt-1", None, 0, parked, b""
    )
    replayed = letter.replay_headers()
    assert replayed == {
        "ce-id": "evt-1",  # consumers deduplicate by it: whoever handled it skips it
        "ce-type": "shop.x.v1.Y",
        # not "evt-1": JetStream would drop that as a duplicate inside its window
        "Nats-Msg-Id": "replay:42:evt-1",
    }
