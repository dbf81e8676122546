"""Apply a service's SQL migrations in order, once each, as the service's own role.

Files are named `NNN_description.sql` and applied in version order, recorded
with a checksum in `<schema>.schema_migrations`. PostgreSQL's DDL is
transactional, so all pending migrations apply in one transaction: a failing
one leaves the schema exactly as it was.
Editing a migration that already ran is refused (checksum mismatch): write a
new one. Replicas starting together serialise on an advisory lock, so each
migration runs exactly once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger("protomesh.migrations")

_NAME = re.compile(r"(?P<version>\d{3,})_[a-z0-9_]+\.sql")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNN_description.sql")
        migrations.append(Migration(match["version"], path))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{directory}: two migrations share a version")
    return migrations


async def migrate(
    connection: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, schema: str, directory: Path
) -> list[str]:
    """Apply what is missing; returns the versions applied now."""
    table = f"{_quote(schema)}.schema_migrations"
    applied_now: list[str] = []
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
        await connection.execute(
            f"CREATE TABLE IF NOT EXISTS {table} ("
            " version text PRIMARY KEY, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {
            r["version"]: r["checksum"] for r in await connection.fetch(f"SELECT * FROM {table}")
        }
        for migration in discover(directory):
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"{migration.path.name} changed after it was applied;"
                        " add a new migration instead"
                    )
                continue
            await connection.execute(migration.sql)
            await connection.execute(
                f"INSERT INTO {table} (version, checksum) VALUES ($1, $2)",
                migration.version,
                migration.checksum,
            )
            applied_now.append(migration.version)
            log.info("applied migration %s", migration.path.name, extra={"schema": schema})
    return applied_now


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
