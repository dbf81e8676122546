"""A provider's side of pattern 12: verify every contract that names it, statically and live.

The provider's suite supplies its states (what `given` means: a user that exists) and its
producers (how to make the running provider emit each event type, and read back what it
emitted from its own outbox, byte for byte what the relay publishes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from protomesh.paths import DESCRIPTOR_SET
from protomesh_toolkit.contracts.consumers.live import ProviderState, replay_rpcs, verify_emitted
from protomesh_toolkit.contracts.consumers.model import CONTRACTS_DIR, ContractSet
from protomesh_toolkit.contracts.consumers.problems import Broken
from protomesh_toolkit.contracts.consumers.schema import ProviderSchema
from protomesh_toolkit.contracts.consumers.static import verify_static
from tests.support import mesh_tls
from tests.support.postgres import Postgres

# Makes the running provider emit one event; returns (event type, payload) as stored.
EventProducer = Callable[[], Awaitable[tuple[str, bytes]]]


def verify_statically(
    provider: str, descriptor_set: Path = DESCRIPTOR_SET, contracts: Path = CONTRACTS_DIR
) -> list[Broken]:
    schema = ProviderSchema.from_file(descriptor_set)
    found: list[Broken] = []
    for contract in ContractSet.load(contracts).with_provider(provider):
        found += verify_static(contract, schema)
    return found


async def verify_live(
    provider: str,
    address: str,
    *,
    states: Mapping[str, ProviderState],
    producers: Mapping[str, EventProducer],
    descriptor_set: Path = DESCRIPTOR_SET,
    contracts: Path = CONTRACTS_DIR,
) -> list[Broken]:
    """Replay every RPC example (as the consumer's own mTLS identity) and check each event."""
    schema = ProviderSchema.from_file(descriptor_set)
    found: list[Broken] = []
    for contract in ContractSet.load(contracts).with_provider(provider):
        if contract.rpcs:
            async with mesh_tls.aio_channel(address, contract.consumer) as channel:
                found += await replay_rpcs(contract, channel, schema, states)
        for event in contract.events:
            produce = producers.get(event.event)
            if produce is None:
                found.append(
                    Broken(
                        contract.consumer,
                        provider,
                        event.event,
                        "the provider's suite cannot make the provider emit it",
                    )
                )
                continue
            emitted_type, payload = await produce()
            found += verify_emitted(contract, event.event, emitted_type, payload, schema)
    return found


async def last_outbox_event(
    postgres: Postgres, schema: str, aggregate_id: str
) -> tuple[str, bytes]:
    """The newest event the provider wrote to its outbox for one aggregate."""
    connection = await postgres.connect()
    try:
        row = await connection.fetchrow(
            f'SELECT event_type, payload FROM "{schema}".outbox'
            " WHERE aggregate_id = $1 ORDER BY sequence DESC LIMIT 1",
            aggregate_id,
        )
    finally:
        await connection.close()
    assert row is not None, f"the provider wrote no event for {aggregate_id}"
    return row["event_type"], bytes(row["payload"])
