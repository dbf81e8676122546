"""Set up each change-capture worker's database side, as the admin (`protomesh db provision --cdc`).

The worker's role (LOGIN REPLICATION), SELECT on the watched tables, their
REPLICA IDENTITY FULL, the publication and the logical slot: what a CDC worker
needs and must not be able to make itself, since making it takes the admin.
It needs the watched tables, so it runs once their service has migrated:
`protomesh up` does it just before it starts each worker; compose runs the
one-shot `<service>-cdc-setup` job, Kubernetes an init container beside the
worker. The worker then logs in with its own role's password only.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg

from protomesh.cdc import slot
from protomesh.cdc.naming import CaptureNames
from protomesh.registry import ChangeCapture, Mesh
from protomesh_toolkit.db.roles import read_secret
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.topology.wiring import ADMIN_PASSWORD, ADMIN_ROLE, Wiring, cdc_password, dsn

RETRY = 1.0  # seconds between attempts while the service has not migrated yet


def prepare_capture(mesh: Mesh, capture: ChangeCapture, wiring: Wiring, *, wait: float) -> None:
    """Make (or update, idempotently) one worker's role, grants, publication and slot.

    Waits up to `wait` seconds for the watched tables (the service's migrations
    make them); ClusterError past that, or when PostgreSQL refuses.
    """
    if wiring.postgres is None:
        raise ClusterError("mesh.yaml declares no postgres for change capture")
    service = mesh.services[capture.service]
    assert service.database is not None  # the registry checks it
    admin_dsn = dsn(wiring.postgres, ADMIN_ROLE)
    admin_password = read_secret(Path(wiring.secret_file(ADMIN_PASSWORD)))
    fields = {
        "role": capture.role,
        "password": read_secret(Path(wiring.secret_file(cdc_password(capture)))),
        "schema": service.database.schema,
        "tables": list(capture.tables),
    }
    deadline = time.monotonic() + wait
    while True:
        try:
            asyncio.run(
                slot.prepare_from_admin(
                    admin_dsn, admin_password, CaptureNames(capture.service), **fields
                )
            )
            return
        except slot.TablesMissing as missing:
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"{capture.name}: {missing}; has {service.name} started?"
                ) from None
        except (OSError, asyncpg.PostgresError) as error:
            raise ClusterError(f"{capture.name}: set-up as {admin_dsn} failed: {error}") from None
        time.sleep(RETRY)
