"""Wire the user service together: the composition root, and the only place
that creates pools, stores and servicers.

At start: provision and migrate the schema, then install the runtime's own
tables in it (outbox, idempotency keys, processed events). Beside the RPCs
run the pruner of those tables (mesh.yaml's `retention`) and, given NATS, the
outbox relay and the order-count consumer.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from pathlib import Path

from shop.user.v1 import user_pb2_grpc as v1_grpc
from shop.user.v2 import user_pb2_grpc as v2_grpc

from protomesh.bus.processed import install_processed_events
from protomesh.db.pool import PostgresProbe
from protomesh.db.service_database import open_service_database
from protomesh.idempotency import install_idempotency
from protomesh.outbox import (
    OutboxDatabase,
    OutboxRelay,
    RelaySettings,
    declare_produced,
    install_outbox,
)
from protomesh.policies import ServicePolicies
from protomesh.pruning import effective_retention, runtime_targets, service_pruner
from protomesh.readiness import ReadinessCheck
from protomesh.registry import Retention, load_mesh
from protomesh.server import GrpcService, Registration, ServiceDefinition, Worker
from services.user.config import UserServiceConfig
from services.user.handlers import Clock, UnitsOfWork, UserReader
from services.user.mail import Mailer
from services.user.order_counts import order_counts_consumer
from services.user.servicer_v1 import UserServiceV1
from services.user.servicer_v2 import UserServiceV2
from services.user.smtp_mailer import SmtpMailer
from services.user.store import PostgresUserReader, PostgresUserUnitOfWork
from services.user.streams import USER_EVENTS
from services.user.validation import VALIDATORS

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("services.user")


def utc_now() -> datetime:
    return datetime.now(UTC)


def registrations(
    users: UserReader, units: UnitsOfWork, clock: Clock, mailer: Mailer
) -> list[Registration]:
    """Both API versions over the same users: v1 and v2 are served side by side."""
    return [
        Registration(
            "shop.user.v1.UserService",
            UserServiceV1(users, units, clock),
            v1_grpc.add_UserServiceServicer_to_server,
        ),
        Registration(
            "shop.user.v2.UserService",
            UserServiceV2(users, units, clock, mailer),
            v2_grpc.add_UserServiceServicer_to_server,
        ),
    ]


def outbox_relay(config: UserServiceConfig, retention: Retention) -> OutboxRelay | None:
    """The relay publishing this service's outbox, when NATS is configured.

    NATS is not a readiness dependency: while it is down, writes still commit
    and their events wait in the outbox (that is the outbox's point).
    """
    if config.nats_url is None:
        return None
    return OutboxRelay(
        OutboxDatabase(config.database_url, config.database_password, config.database_schema),
        config.nats_url,
        RelaySettings(poll_interval=config.outbox_poll_interval, retention=retention.outbox),
        streams=[USER_EVENTS],
        name="user-outbox-relay",
        tls=config.tls,
    )


def mailer(config: UserServiceConfig) -> Mailer:
    return SmtpMailer(
        config.smtp_host, config.smtp_port, config.smtp_from, timeout=config.smtp_timeout
    )


async def build(config: UserServiceConfig) -> GrpcService:
    mesh = load_mesh(config.mesh_file)  # read and checked once: ~10 ms of every start
    # The outbox takes only the event types mesh.yaml says this service produces.
    declare_produced(mesh.services["user"].produces)
    retention = effective_retention(mesh.services["user"].retention)
    pool = await open_service_database(
        config,
        application_name="user-service",
        migrations=MIGRATIONS,
        installs=[install_outbox, install_idempotency, install_processed_events],
    )
    users = PostgresUserReader(pool)
    units = functools.partial(PostgresUserUnitOfWork, pool, retention=config.idempotency_retention)
    postgres_ready = PostgresProbe(config.database_url, config.database_password)
    workers: list[Worker] = [service_pruner(pool, retention, runtime_targets(retention))]
    relay = outbox_relay(config, retention)
    if relay is not None:
        workers.append(relay)
    if config.nats_url is not None:  # orders per customer, kept from the order events
        workers.append(order_counts_consumer(config.nats_url, pool, tls=config.tls))

    definition = ServiceDefinition(
        name="user",
        registrations=registrations(users, units, utc_now, mailer(config)),
        policies=ServicePolicies.of(mesh, "user"),
        validators=VALIDATORS,
        readiness_checks=[ReadinessCheck("postgres", postgres_ready)],
        workers=workers,
        closers=[pool.close, postgres_ready.close],
    )
    return GrpcService(definition, config)
