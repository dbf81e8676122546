"""Give a service its own login role and its own schema, from an admin connection.

Data ownership is enforced by PostgreSQL, not by convention: the role owns
its schema, PUBLIC has no rights on it, and no other service's role gets a
grant there, so a stray query across contexts fails with "permission denied".
Idempotent, and safe when replicas start together (one advisory lock).
Re-running with a new password rotates it.
"""

from __future__ import annotations

import asyncpg

from protomesh.config import Secret

_LOCK_KEY = "protomesh.provision"


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


async def provision_from_admin(
    admin_url: str,
    admin_password: Secret | None,
    *,
    role: str,
    password: Secret | None,
    schema: str,
    password_setting: str,
) -> None:
    """Connect as the admin, give the service its role and schema, disconnect.

    `password_setting` names the setting a missing password should point the
    operator to (e.g. ORDER_SERVICE_DATABASE_PASSWORD): a role without one
    could not log in.
    """
    if password is None:
        raise ValueError(f"{password_setting}(_FILE) is required to provision the role")
    admin = await asyncpg.connect(
        admin_url, password=admin_password.reveal() if admin_password else None
    )
    try:
        await provision_service_database(admin, role=role, password=password, schema=schema)
    finally:
        await admin.close()
