"""Fixtures shared by every test: generated code is fresh, real servers clean up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from protomesh_toolkit.codegen import ensure_generated
from protomesh_toolkit.mail import sink
from tests.support import mesh_tls
from tests.support.mail import MailSink
from tests.support.nats import Nats, start_nats
from tests.support.ports import free_port
from tests.support.postgres import Postgres, start_postgres

UNIT = Path(__file__).parent / "unit"


def pytest_configure(config: pytest.Config) -> None:
    """Tests import generated modules: regenerate before collection if protos changed."""
    ensure_generated()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """One real PostgreSQL for the session; tests isolate by role and schema."""
    server = start_postgres(tmp_path_factory.mktemp("postgres"))
    yield server
    server.server.stop()


@pytest.fixture(scope="session")
def mesh_certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's mesh CA and a certificate per identity: services run over mTLS."""
    return mesh_tls.use(tmp_path_factory.mktemp("certs"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test outside tests/unit runs real servers, over mTLS: give it the CA first.

    Unit tests replace I/O at a boundary and need no certificates, so
    `make test-fast` (tests/unit alone) issues none.
    """
    for item in items:
        if not isinstance(item, pytest.Function) or UNIT in item.path.parents:
            continue
        if "mesh_certificates" not in item.fixturenames:
            item.fixturenames.insert(0, "mesh_certificates")


@pytest.fixture(scope="session")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nats]:
    """One real `nats-server -js` for the session; tests isolate by stream, subject or ids.

    Tests that stop or kill NATS start their own with `start_nats(tmp_path)`.
    """
    server = start_nats(tmp_path_factory.mktemp("nats"))
    yield server
    server.server.stop()


@pytest.fixture(scope="session")
def mail_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSink]:
    """A real SMTP sink for the session; user services send verification mail to it."""
    port = free_port()
    directory = tmp_path_factory.mktemp("mail")
    controller = sink.start(directory, port)
    try:
        yield MailSink(port, directory)
    finally:
        controller.stop()
