"""No admin credentials in services: `protomesh db provision` makes the roles, services use them.

The admin password goes to one one-shot step; a service is started with its
own role's password and nothing else, runs its migrations as that role, and
refuses to start when handed an admin setting.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from protomesh.registry import DEFAULT_MESH_FILE
from tests.support.cluster_cli import run_protomesh
from tests.support.order_service import role_of
from tests.support.postgres import Postgres
from tests.support.service import user_service

pytestmark = pytest.mark.integration


async def test_a_service_starts_with_no_admin_secret_at_all(
    postgres: Postgres, tmp_path: Path
) -> None:
    service = user_service(postgres, tmp_path)
    assert not [key for key in service.env if "ADMIN" in key]
    assert str(postgres.password_file) not in service.env.values()
    assert postgres.password not in service.env.values()
    service.start()
    try:
        assert service.health() == "SERVING"
        role, password = role_of(service, "USER_SERVICE_")
        connection = await asyncpg.connect(postgres.dsn_for(role), password=password)
        try:
            privileges = await connection.fetchrow(
                "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles"
                " WHERE rolname = current_user"
            )
            applied = await connection.fetchval("SELECT count(*) FROM schema_migrations")
        finally:
            await connection.close()
        assert privileges is not None
        assert tuple(privileges) == (False, False, False)
        assert applied >= 1  # it migrated its own schema, as its own role
    finally:
        service.kill()


def test_a_service_handed_an_admin_setting_refuses_to_start(
    postgres: Postgres, tmp_path: Path
) -> None:
    service = user_service(postgres, tmp_path, admin_database_url=postgres.admin_dsn)
    with pytest.raises(RuntimeError, match="USER_SERVICE_ADMIN_DATABASE_URL: unknown setting"):
        service.start()


def mesh_on(postgres: Postgres, path: Path, suffix: str) -> Path:
    """The project's registry, its PostgreSQL at the test's, each role and schema suffixed."""
    document: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    document["infrastructure"]["postgres"]["port"]["local"] = postgres.server.port
    for service in document["services"].values():
        if "database" not in service:
            continue  # bff keeps no data
        database = service["database"]
        database["role"] = f"{database['role']}_{suffix}"
        database["schema"] = f"{database['schema']}_{suffix}"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


async def test_db_provision_makes_every_role_and_schema_and_rotates_on_repeat(
    postgres: Postgres, tmp_path: Path
) -> None:
    suffix = secrets.token_hex(3)
    mesh = mesh_on(postgres, tmp_path / "mesh.yaml", suffix)
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "postgres_admin_password").write_text(postgres.password + "\n")
    for name in ("user", "order", "reporting"):  # every service with a database
        (secrets_dir / f"{name}_db_password").write_text(secrets.token_urlsafe(12))

    def provision() -> str:
        done = run_protomesh(
            tmp_path / "run", mesh, "db", "provision", "--secrets-dir", str(secrets_dir)
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    printed = provision()
    assert f"role user_svc_{suffix}: owns schema users_{suffix}" in printed
    assert postgres.password not in printed
    (secrets_dir / "order_db_password").write_text("rotated-" + secrets.token_urlsafe(12))
    provision()  # idempotent; the changed file is the role's new password

    for name, schema in (("user", "users"), ("order", "orders")):
        password = (secrets_dir / f"{name}_db_password").read_text()
        connection = await asyncpg.connect(
            postgres.dsn_for(f"{name}_svc_{suffix}"), password=password
        )
        try:
            owner = await connection.fetchval(
                "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1",
                f"{schema}_{suffix}",
            )
        finally:
            await connection.close()
        assert owner == f"{name}_svc_{suffix}"


def test_db_provision_without_the_admin_password_says_which_file(
    postgres: Postgres, tmp_path: Path
) -> None:
    mesh = mesh_on(postgres, tmp_path / "mesh.yaml", secrets.token_hex(3))
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    for name in ("user", "order", "reporting"):
        (secrets_dir / f"{name}_db_password").write_text("x")
    done = run_protomesh(
        tmp_path / "run", mesh, "db", "provision", "--secrets-dir", str(secrets_dir)
    )
    assert done.returncode == 1
    assert "postgres_admin_password: secret file missing" in done.stderr
