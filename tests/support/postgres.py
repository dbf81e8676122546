"""A real PostgreSQL (the embedded one from pgserver) for a test session or a test."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from protomesh.config import Secret
from protomesh_toolkit.db.provision import ServiceRole, provision
from protomesh_toolkit.embedded.postgres import EmbeddedPostgres
from tests.support.ports import free_port


@dataclass
class Postgres:
    server: EmbeddedPostgres
    password: str
    password_file: Path

    @property
    def admin_dsn(self) -> str:
        return self.server.dsn()

    def dsn_for(self, role: str) -> str:
        return self.server.dsn(user=role)

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.admin_dsn, password=self.password)

    def provision(self, role: str, password: str, schema: str) -> None:
        """Make a service's role and schema as the admin, as `protomesh db provision` does
        before a service starts: the service itself never gets the admin password."""
        provision(
            self.admin_dsn, Secret(self.password), [ServiceRole(role, Secret(password), schema)]
        )


def start_postgres(directory: Path, settings: dict[str, str] | None = None) -> Postgres:
    """`settings` are server options over the defaults (wal_level=logical, ...)."""
    password = secrets.token_urlsafe(16)
    password_file = directory / "admin_password"
    password_file.write_text(password)
    server = EmbeddedPostgres(directory / "data", free_port())
    server.initialise(password)
    server.start(settings=settings)
    return Postgres(server, password, password_file)
