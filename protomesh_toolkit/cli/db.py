"""`protomesh db provision`: make every service's database role and schema, as the admin.

The one step that holds the PostgreSQL admin password. `protomesh up` runs
it before any service starts; in compose and Kubernetes it is the one-shot
`db-provision` job (`--environment compose --secrets-dir /run/secrets`).
Services get only their own role's password. With `--cdc` it sets up each
change-capture worker instead (its REPLICATION role, grants, publication and
slot: `protomesh_toolkit/db/cdc.py`), once the watched tables exist.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from protomesh.registry import LOCAL, load_mesh
from protomesh_toolkit.cluster.ports import HOST
from protomesh_toolkit.db.cdc import prepare_capture
from protomesh_toolkit.db.roles import provision_mesh
from protomesh_toolkit.layout import Layout
from protomesh_toolkit.topology.wiring import Wiring


def _provision(args: argparse.Namespace, layout: Layout) -> int:
    mesh = load_mesh(layout.mesh_file)
    if args.secrets_dir is None and args.environment == LOCAL:
        layout.prepare()
        secrets_dir = layout.secrets_dir

        def secret_file(name: str) -> str:
            return str(layout.ensure_secret(name))
    else:
        secrets_dir = args.secrets_dir or layout.secrets_dir

        def secret_file(name: str) -> str:
            return str(secrets_dir / name)

    wiring = Wiring.of(
        mesh, args.environment, HOST, secret_file, mesh_file=str(layout.mesh_file), certs_dir=None
    )
    if args.cdc:
        for capture in mesh.cdc.values():
            prepare_capture(mesh, capture, wiring, wait=args.wait)
            print(f"{capture.name}: role {capture.role}, publication and slot ready")
        return 0
    roles = provision_mesh(mesh, wiring)
    for role in roles:
        print(f"role {role.role}: owns schema {role.schema}")
    print(f"provisioned {len(roles)} roles at {wiring.postgres} (passwords from {secrets_dir})")
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    db = commands.add_parser("db", help="the databases' admin side: roles and schemas")
    actions = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    provision = actions.add_parser(
        "provision",
        help="make or update every service's role and schema (needs the admin password)",
        description="Create each service's login role (its password from <SECRETS_DIR>/"
        "<service>_db_password) and the schema it owns, as the PostgreSQL admin "
        "(postgres_admin_password). Idempotent; a changed password file rotates the role's.",
    )
    provision.add_argument(
        "--environment", default=LOCAL, help="the mesh.yaml environment (default: local)"
    )
    provision.add_argument(
        "--secrets-dir",
        type=Path,
        help="where the password files are (default: the local cluster's, made when missing)",
    )
    provision.add_argument(
        "--cdc",
        action="store_true",
        help="set up each change-capture worker (role, grants, publication, slot) instead; "
        "run it after the watched service has migrated",
    )
    provision.add_argument(
        "--wait",
        type=float,
        default=60.0,
        help="with --cdc: seconds to wait for the watched tables (default: 60)",
    )
    provision.set_defaults(run=_provision)
