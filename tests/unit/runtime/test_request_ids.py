"""Request ids: the caller's when well-formed, else a fresh one that is unique and log-safe."""

from __future__ import annotations

from protomesh.interceptors.request_id import HEADER, incoming_request_id


def test_a_well_formed_incoming_id_is_kept() -> None:
    assert incoming_request_id([("other", "x"), (HEADER, "edge-7f3a:1")]) == "edge-7f3a:1"


def test_a_malformed_incoming_id_is_replaced_by_a_fresh_one() -> None:
    replaced = incoming_request_id([(HEADER, "bad id\nwith a newline")])
    assert replaced != "bad id\nwith a newline"
    assert incoming_request_id([(HEADER, replaced)]) == replaced  # and it is well-formed


def test_fresh_ids_are_distinct_and_pass_the_incoming_rule() -> None:
    fresh = [incoming_request_id(()) for _ in range(1000)]
    assert len(set(fresh)) == len(fresh)
    # Forwarded to the next hop, a fresh id must be kept there, not replaced.
    assert all(incoming_request_id([(HEADER, i)]) == i for i in fresh)
