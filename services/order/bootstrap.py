"""Wire the order service together: the composition root, and the only place
that creates pools, channels, stores, workers and servicers.

At start: as the service's own role (made by `protomesh db provision`), apply
the migrations, then install the runtime's own tables in the service's schema
(outbox, idempotency keys, processed events). In the process, beside the
RPCs, run the workers: the outbox relay (NATS may be down: it waits and
retries, orders are still taken), the pruner of the runtime's tables,
and, given NATS, the customer-directory consumer (the order context's own
copy of customers, fed by user events). Payments go to the external provider
through the anti-corruption layer (services/order/payments/), found in the
registry's `infrastructure.payments` unless configured.
"""

from __future__ import annotations

import functools
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import grpc
from nats.aio.client import Client as NatsClient
from shop.order.v1 import order_pb2_grpc

from protomesh.bus.consumer import DurableConsumer
from protomesh.bus.processed import install_processed_events
from protomesh.channels import channel_for
from protomesh.circuit_breaker import CircuitBreaker
from protomesh.config import current_environment
from protomesh.db.pool import PostgresProbe
from protomesh.db.service_database import open_service_database
from protomesh.idempotency import install_idempotency
from protomesh.nats_probe import NatsProbe
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
from protomesh.registry import Mesh, load_mesh
from protomesh.registry.model import host_of
from protomesh.server import GrpcService, Registration, ServiceDefinition, Worker
from protomesh.tls.files import TlsFiles
from services.order.config import OrderServiceConfig
from services.order.customer_check import CopyFirstCustomers
from services.order.customer_directory import EVENT_TYPES, SPEC, CustomerDirectoryHandler
from services.order.customer_store import PostgresCustomerDirectory
from services.order.handlers import (
    Clock,
    CustomerCheck,
    OrderReader,
    PaymentGateway,
    UnitsOfWork,
)
from services.order.payments.gateway import ProviderPaymentGateway
from services.order.servicer import OrderServiceV1
from services.order.store import PostgresOrderReader, PostgresOrderUnitOfWork
from services.order.streams import ORDER_EVENTS
from services.order.user_lookup import UserServiceCustomers
from services.order.validation import VALIDATORS

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("services.order")


def utc_now() -> datetime:
    return datetime.now(UTC)


def nats_url(config: OrderServiceConfig, mesh: Mesh, environment: str) -> str | None:
    """The configured NATS, else the registry's; None when neither names one."""
    if config.nats_url:
        return config.nats_url
    nats = mesh.infrastructure.get("nats")
    if nats is None or environment not in nats.ports:
        return None
    return f"nats://{host_of(environment, 'nats')}:{nats.ports[environment]}"


def payments_url(config: OrderServiceConfig, mesh: Mesh, environment: str) -> str:
    """The configured payment provider, else the registry's; there is no running without one."""
    if config.payments_url:
        return config.payments_url
    payments = mesh.infrastructure.get("payments")
    if payments is None or environment not in payments.ports:
        raise ValueError(
            f"no payment provider for {environment!r}: declare infrastructure.payments"
            " in mesh.yaml or set ORDER_SERVICE_PAYMENTS_URL"
        )
    return f"http://{host_of(environment, 'payments')}:{payments.ports[environment]}"


def payment_gateway(config: OrderServiceConfig, url: str) -> ProviderPaymentGateway:
    breaker = CircuitBreaker(
        "payments",
        failure_threshold=config.payments_failure_threshold,
        reset_timeout=config.payments_reset_timeout,
    )
    return ProviderPaymentGateway(url, timeout=config.payments_timeout, breaker=breaker)


def user_service_customers(
    config: OrderServiceConfig, users: grpc.aio.Channel
) -> UserServiceCustomers:
    breaker = CircuitBreaker(
        "user-service",
        failure_threshold=config.user_service_failure_threshold,
        reset_timeout=config.user_service_reset_timeout,
    )
    return UserServiceCustomers(users, timeout=config.user_service_timeout, breaker=breaker)


def customer_directory_consumer(
    nats: NatsClient | str, pool: asyncpg.Pool, *, tls: TlsFiles | None = None
) -> DurableConsumer:
    """The worker keeping the order context's copy of customers, fed by user events.

    `nats` is a URL (the worker connects with `tls`, and waits for NATS) or a
    shared client. The schema needs `processed_events` (`install_processed_events`).
    """
    handler = CustomerDirectoryHandler(PostgresCustomerDirectory(pool))
    return DurableConsumer(nats, SPEC, EVENT_TYPES, handler.handle, tls=tls)


def registrations(
    orders: OrderReader,
    units: UnitsOfWork,
    customers: CustomerCheck,
    payments: PaymentGateway,
    clock: Clock,
) -> list[Registration]:
    return [
        Registration(
            "shop.order.v1.OrderService",
            OrderServiceV1(orders, units, customers, payments, clock),
            order_pb2_grpc.add_OrderServiceServicer_to_server,
        )
    ]


async def build(config: OrderServiceConfig) -> GrpcService:
    environment = current_environment(os.environ)
    mesh = load_mesh(config.mesh_file)  # where the user service runs, and who may call us
    # The outbox takes only the event types mesh.yaml says this service produces.
    declare_produced(mesh.services["order"].produces)
    payments = payment_gateway(config, payments_url(config, mesh, environment))
    pool = await open_service_database(
        config,
        application_name="order-service",
        migrations=MIGRATIONS,
        installs=[install_outbox, install_idempotency, install_processed_events],
    )
    orders = PostgresOrderReader(pool)
    units = functools.partial(PostgresOrderUnitOfWork, pool, retention=config.idempotency_retention)
    users = channel_for(
        "user", mesh, environment, tls=config.tls, default_timeout=config.user_service_timeout
    )
    # The order context's own copy of customers first; the user service only for a
    # customer the copy does not know yet (services/order/customer_check.py).
    customers = CopyFirstCustomers(
        PostgresCustomerDirectory(pool), user_service_customers(config, users)
    )
    postgres_ready = PostgresProbe(config.database_url, config.database_password)
    # Expired rows of the runtime's tables, kept as long as mesh.yaml's `retention` says.
    retention = effective_retention(mesh.services["order"].retention)
    workers: list[Worker] = [service_pruner(pool, retention, runtime_targets(retention))]
    checks = [ReadinessCheck("postgres", postgres_ready)]
    # Reported as health service "payments", never taking the service out of
    # rotation: reads and cancels work without the provider.
    checks.append(ReadinessCheck("payments", payments.probe, required=False))
    servers = nats_url(config, mesh, environment)
    if servers is None:
        log.warning("no NATS in the registry or config: events stay in the outbox")
    else:
        # Not required: orders are still taken while NATS is away (the outbox
        # keeps their events); health service "nats" says whether it is there.
        checks.append(ReadinessCheck("nats", NatsProbe(servers), required=False))
        database = OutboxDatabase(
            config.database_url, config.database_password, config.database_schema
        )
        relay = OutboxRelay(
            database,
            servers,
            RelaySettings(retention=retention.outbox),
            streams=[ORDER_EVENTS],
            name="order-outbox-relay",
            tls=config.tls,
        )
        workers.append(relay)
        # The order context's own copy of customers, fed by user events (pattern 8).
        workers.append(customer_directory_consumer(servers, pool, tls=config.tls))

    async def close_users() -> None:
        await users.close()

    definition = ServiceDefinition(
        name="order",
        registrations=registrations(orders, units, customers, payments, utc_now),
        policies=ServicePolicies.of(mesh, "order"),
        validators=VALIDATORS,
        readiness_checks=checks,
        workers=workers,
        closers=[pool.close, postgres_ready.close, close_users, payments.close],
    )
    return GrpcService(definition, config)
