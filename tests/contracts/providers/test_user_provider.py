"""The user service verifies every consumer contract in which it is the provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import Postgres
from tests.support.provider_verification import verify_live, verify_statically
from tests.support.service import ServiceProcess, user_service
from tests.support.user_provider import user_provider

PROVIDER = "user"


def test_user_keeps_every_method_event_and_field_its_consumers_rely_on() -> None:
    assert verify_statically(PROVIDER) == []


@pytest.fixture(scope="module")
def users(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    running = user_service(postgres, tmp_path_factory.mktemp("provider-user"))
    running.start()
    yield running
    running.kill()


@pytest.mark.integration
async def test_the_running_user_service_answers_every_consumer_as_recorded(
    users: ServiceProcess, postgres: Postgres
) -> None:
    states, producers = user_provider(users, postgres)
    found = await verify_live(PROVIDER, users.address, states=states, producers=producers)
    assert found == [], "\n".join(map(str, found))
