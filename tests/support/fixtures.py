"""The real parts most test modules run, as one pytest plugin (registered in tests/conftest.py).

Module-scoped, each stopped by pid when its module ends. A module that needs
a variant (another scope, extra settings) defines a fixture of the same name,
which pytest prefers over these.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.envoy import Envoy, edge_mesh, running_envoy
from tests.support.mail import MailSink
from tests.support.nats import Nats, start_nats
from tests.support.order_service import running_user_and_order
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service


@pytest.fixture(scope="module")
def own_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nats]:
    """A NATS of the module's own, which its tests may stop, restart or fill."""
    server = start_nats(tmp_path_factory.mktemp("nats"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def user(
    postgres: Postgres, mail_sink: MailSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """A user service with its own role and schema, mailing to the session's sink."""
    service = user_service(postgres, tmp_path_factory.mktemp("user"), **mail_sink.service_settings)
    service.start()
    try:
        yield service
    finally:
        service.kill()


@pytest.fixture(scope="module")
def edge(user: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Envoy]:
    """The real Envoy edge in front of `user`, its upstream healthy."""
    with running_envoy(edge_mesh([user.port]), tmp_path_factory.mktemp("edge")) as envoy:
        envoy.wait_upstreams_healthy()
        yield envoy


@pytest.fixture(scope="module")
def services(
    postgres: Postgres, mail_sink: MailSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """A user and an order service, the order service finding the user service by name."""
    directory = tmp_path_factory.mktemp("user-and-order")
    mail = mail_sink.service_settings
    with running_user_and_order(postgres, directory, user_overrides=mail) as running:
        yield running
