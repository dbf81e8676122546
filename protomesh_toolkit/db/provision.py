"""Give each service its own login role and its own schema, from an admin connection.

Data ownership is enforced by PostgreSQL, not by convention: the role owns
its schema, PUBLIC has no rights on it, and no other service's role gets a
grant there, so a stray query across contexts fails with "permission denied".
Idempotent, and safe when two provisioners run together (one advisory lock).
Re-running with a new password rotates it.

This runs in a one-shot step (`protomesh db provision`, the `db-provision`
job of compose and Kubernetes), the only process that holds the admin
password: services get their own role's password and nothing else, and run
their migrations as that role (it owns the schema).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import asyncpg

from protomesh.config import Secret

_LOCK_KEY = "protomesh.provision"


@dataclass(frozen=True)
class ServiceRole:
    """One service's login role, its password and the schema it owns."""

    role: str
    password: Secret
    schema: str


async def _execute_formatted(admin: asyncpg.Connection, template: str, *args: str) -> None:
    """DDL takes no bind parameters; PostgreSQL's own format(%I, %L) does the quoting."""
    placeholders = ", ".join(f"${i}::text" for i in range(2, len(args) + 2))
    statement = await admin.fetchval(f"SELECT format($1, {placeholders})", template, *args)
    await admin.execute(statement)


async def provision_service_database(
    admin: asyncpg.Connection, *, role: str, password: Secret, schema: str
) -> None:
    async with admin.transaction():
        await admin.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _LOCK_KEY)
        exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        verb = "ALTER" if exists else "CREATE"
        await _execute_formatted(
            admin,
            f"{verb} ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD %L",
            role,
            password.reveal(),
        )
        await _execute_formatted(
            admin, "CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I", schema, role
        )
        await _execute_formatted(admin, "ALTER SCHEMA %I OWNER TO %I", schema, role)
        await _execute_formatted(admin, "REVOKE ALL ON SCHEMA %I FROM PUBLIC", schema)
        await _execute_formatted(admin, "ALTER ROLE %I SET search_path = %I", role, schema)


async def provision_all(
    admin_url: str, admin_password: Secret | None, roles: Sequence[ServiceRole]
) -> None:
    """Connect as the admin, give every service its role and schema, disconnect."""
    admin = await asyncpg.connect(
        admin_url, password=admin_password.reveal() if admin_password else None
    )
    try:
        for each in roles:
            await provision_service_database(
                admin, role=each.role, password=each.password, schema=each.schema
            )
    finally:
        await admin.close()


def provision(admin_url: str, admin_password: Secret | None, roles: Sequence[ServiceRole]) -> None:
    """`provision_all` from synchronous code (the CLI, the supervisor, test and bench stacks).

    It runs on a thread of its own, so it works whether or not the caller's
    thread already runs an event loop.
    """
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, provision_all(admin_url, admin_password, roles)).result()
