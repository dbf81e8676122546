"""Pattern 12: consumer-driven contracts, for RPCs and events.

Each consumer's own tests record what it relies on (tests/contracts/consumers/: a
recording interceptor on its channel, a recording handler for its events) into
contracts/<consumer>/<provider>-<kind>.json; the provider verifies each contract
statically against its descriptor set and live against the running service, and a
change that breaks a consumer names the consumer, the method or event and the field.
More breaks, including ones buf cannot see: tests/contracts/test_consumer_contract_guard.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from protomesh.paths import ROOT
from protomesh.registry import load_mesh
from protomesh_toolkit.contracts.consumers.model import ContractSet
from services.order import customer_directory
from services.user import order_counts
from tests.contracts.workspace import ProtoWorkspace
from tests.support.postgres import Postgres
from tests.support.provider_verification import verify_live, verify_statically
from tests.support.service import ServiceProcess, user_service
from tests.support.user_provider import user_provider

CONTRACTS = ContractSet.load()


def used(consumer: str, provider: str) -> tuple[set[str], set[str]]:
    """(methods, event types) the contracts say `consumer` uses of `provider`."""
    chosen = [c for c in CONTRACTS.contracts if (c.consumer, c.provider) == (consumer, provider)]
    return (
        {rpc.method for c in chosen for rpc in c.rpcs},
        {event.event for c in chosen for event in c.events},
    )


def test_every_rpc_a_service_may_call_has_its_contract() -> None:
    mesh = load_mesh()
    for provider, service in mesh.services.items():
        for method, callers in service.callers.items():
            for consumer in set(callers) & set(mesh.services):
                methods, _ = used(consumer, provider)
                assert method in methods, f"{consumer} may call {method} but records no contract"


def test_every_event_a_consumer_subscribes_to_has_its_contract() -> None:
    assert used("order", "user")[1] == set(customer_directory.EVENT_TYPES.names())
    assert used("user", "order")[1] == set(order_counts.EVENT_TYPES.names())


def test_a_contract_names_the_fields_the_consumer_reads_and_sets() -> None:
    (rpc,) = next(c for c in CONTRACTS.contracts if c.file_name() == "order/user-rpc.json").rpcs
    assert [(f.path, f.type) for f in rpc.sets] == [("user_id", "string")]
    assert {example.status for example in rpc.examples} == {"OK", "NOT_FOUND"}
    events = next(c for c in CONTRACTS.contracts if c.file_name() == "order/user-events.json")
    registered = next(e for e in events.events if e.event.endswith("UserRegistered"))
    assert {f.path for f in registered.reads} == {"user_id", "display_name", "email", "occur_time"}


@pytest.mark.integration
def test_a_provider_change_that_breaks_a_consumer_names_consumer_event_and_field(
    tmp_path: Path,
) -> None:
    workspace = ProtoWorkspace.copy_of(ROOT, tmp_path / "protos")
    assert verify_statically("user", workspace.image("as-is")) == []
    workspace.replace(
        "proto/shop/user/events/v1/events.proto",
        "  // The display name after the change.\n  string display_name = 3;\n",
        "  reserved 3;\n",
    )
    assert [str(b) for b in verify_statically("user", workspace.image("broken"))] == [
        "order relies on user: shop.user.events.v1.UserProfileChanged field display_name:"
        " field display_name is gone"
    ]


@pytest.fixture(scope="module")
def users(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    running = user_service(postgres, tmp_path_factory.mktemp("p12-user"))
    running.start()
    yield running
    running.kill()


@pytest.mark.integration
async def test_the_running_provider_answers_its_consumers_as_they_recorded(
    users: ServiceProcess, postgres: Postgres
) -> None:
    states, producers = user_provider(users, postgres)
    assert await verify_live("user", users.address, states=states, producers=producers) == []


def test_the_contracts_live_in_the_repository() -> None:
    assert sorted(c.file_name() for c in CONTRACTS.contracts) == sorted(
        str(path.relative_to(ROOT / "contracts")) for path in (ROOT / "contracts").glob("*/*.json")
    )
