"""The edge's descriptor set adds google.rpc's error types to the contracts, once."""

from __future__ import annotations

from google.protobuf import descriptor_pb2

from gateway.descriptors import edge_descriptor_set
from protomesh.paths import DESCRIPTOR_SET


def names(serialized: bytes) -> list[str]:
    return [f.name for f in descriptor_pb2.FileDescriptorSet.FromString(serialized).file]


def test_error_details_and_their_imports_come_after_the_contracts() -> None:
    contracts = DESCRIPTOR_SET.read_bytes()
    edge = names(edge_descriptor_set(contracts))
    assert edge[: len(names(contracts))] == names(contracts)
    added = edge[len(names(contracts)) :]
    # Only what the contracts lack (shop.user.v2 already imports duration.proto).
    needed = [
        "google/protobuf/any.proto",
        "google/rpc/status.proto",
        "google/protobuf/duration.proto",
        "google/rpc/error_details.proto",
    ]
    assert added == [name for name in needed if name not in names(contracts)]
    assert set(needed) <= set(edge)


def test_it_is_idempotent() -> None:
    once = edge_descriptor_set(DESCRIPTOR_SET.read_bytes())
    assert edge_descriptor_set(once) == once
