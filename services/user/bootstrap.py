"""Wire the user service together: the composition root, and the only place
that creates pools, stores and servicers."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from shop.user.v1 import user_pb2_grpc as v1_grpc
from shop.user.v2 import user_pb2_grpc as v2_grpc

from protomesh.bus.processed import install_processed_events
from protomesh.db.pool import PostgresProbe
from protomesh.db.service_database import open_service_database
from protomesh.outbox import OutboxDatabase, OutboxRelay, RelaySettings, install_outbox
from protomesh.readiness import ReadinessCheck
from protomesh.server import GrpcService, Registration, ServiceDefinition, Worker
from services.user.config import UserServiceConfig
from services.user.handlers import Clock, UserStore
from services.user.order_counts import order_counts_consumer
from services.user.servicer_v1 import UserServiceV1
from services.user.servicer_v2 import UserServiceV2
from services.user.store import PostgresUserStore
from services.user.streams import USER_EVENTS
from services.user.validation import VALIDATORS

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("services.user")


def utc_now() -> datetime:
    return datetime.now(UTC)


def registrations(store: UserStore, clock: Clock) -> list[Registration]:
    """Both API versions over one store: v1 and v2 are served side by side."""
    return [
        Registration(
            "shop.user.v1.UserService",
            UserServiceV1(store, clock),
            v1_grpc.add_UserServiceServicer_to_server,
        ),
        Registration(
            "shop.user.v2.UserService",
            UserServiceV2(store, clock),
            v2_grpc.add_UserServiceServicer_to_server,
        ),
    ]


def outbox_relay(config: UserServiceConfig) -> OutboxRelay | None:
    """The relay publishing this service's outbox, when NATS is configured.

    NATS is not a readiness dependency: while it is down, writes still commit
    and their events wait in the outbox (that is the outbox's point).
    """
    if config.nats_url is None:
        return None
    return OutboxRelay(
        OutboxDatabase(config.database_url, config.database_password, config.database_schema),
        config.nats_url,
        RelaySettings(poll_interval=config.outbox_poll_interval),
        streams=[USER_EVENTS],
        name="user-outbox-relay",
        tls=config.tls,
    )


async def build(config: UserServiceConfig) -> GrpcService:
    pool = await open_service_database(
        config,
        application_name="user-service",
        migrations=MIGRATIONS,
        installs=[install_outbox, install_processed_events],
    )
    store = PostgresUserStore(pool)
    postgres_ready = PostgresProbe(config.database_url, config.database_password)
    relay = outbox_relay(config)
    workers: list[Worker] = [relay] if relay is not None else []
    if config.nats_url is not None:  # orders per customer, kept from the order events
        workers.append(order_counts_consumer(config.nats_url, pool, tls=config.tls))

    definition = ServiceDefinition(
        name="user",
        registrations=registrations(store, utc_now),
        validators=VALIDATORS,
        readiness_checks=[ReadinessCheck("postgres", postgres_ready)],
        workers=workers,
        closers=[pool.close, postgres_ready.close],
    )
    return GrpcService(definition, config)
