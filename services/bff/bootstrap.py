"""Wire the web BFF together: channels to user and order, the cache tiers, the servicer.

The BFF owns no data: no database, no outbox. NATS is optional. With it, a
worker attaches cache tier 2 (a KV bucket every replica shares) and follows
the events that evict cached screens; without it (or while it is away) the
BFF serves from tier 1 and the backends. Health service "cache-events" says
whether this replica follows the events.
"""

from __future__ import annotations

import logging
import os

from shop.bff.web.v1 import web_bff_pb2_grpc

from protomesh.cache import KeyValueTier, NoSharedTier, SharedTier
from protomesh.channels import channel_for
from protomesh.config import current_environment
from protomesh.policies import ServicePolicies
from protomesh.readiness import ReadinessCheck
from protomesh.registry import Mesh, load_mesh
from protomesh.registry.model import host_of
from protomesh.server import GrpcService, Registration, ServiceDefinition, Worker
from services.bff.backends import OrderBackend, UserBackend
from services.bff.config import BffServiceConfig
from services.bff.handlers import Budgets
from services.bff.invalidation import CacheInvalidation
from services.bff.servicer import WebBffServiceV1
from services.bff.sources import CachedSources
from services.bff.validation import VALIDATORS

log = logging.getLogger("services.bff")


def nats_url(config: BffServiceConfig, mesh: Mesh, environment: str) -> str | None:
    """The configured NATS, else the registry's; None when neither names one."""
    if config.nats_url:
        return config.nats_url
    nats = mesh.infrastructure.get("nats")
    if nats is None or environment not in nats.ports:
        return None
    return f"nats://{host_of(environment, 'nats')}:{nats.ports[environment]}"


async def build(config: BffServiceConfig) -> GrpcService:
    environment = current_environment(os.environ)
    mesh = load_mesh(config.mesh_file)  # where user and order run, and who may call us
    users = channel_for("user", mesh, environment, tls=config.tls)
    orders = channel_for("order", mesh, environment, tls=config.tls)
    servers = nats_url(config, mesh, environment)
    shared: SharedTier = NoSharedTier()
    kv: KeyValueTier | None = None
    if servers is None:
        log.warning("no NATS in the registry or config: the cache runs on tier 1 alone")
    else:
        kv = KeyValueTier(
            config.shared_cache_bucket,
            ttl=config.shared_cache_ttl,
            timeout=config.shared_cache_timeout,
        )
        shared = kv
    sources = CachedSources(
        UserBackend(users),
        OrderBackend(orders),
        shared=shared,
        maxsize=config.cache_size,
        ttl=config.cache_ttl,
    )
    workers: list[Worker] = []
    checks: list[ReadinessCheck] = []
    if servers is not None and kv is not None:
        invalidation = CacheInvalidation(servers, sources, kv, tls=config.tls)
        workers.append(invalidation)
        checks.append(ReadinessCheck("cache-events", invalidation.listening, required=False))
    budgets = Budgets(profile=config.user_timeout, orders=config.order_timeout)

    async def close_channels() -> None:
        await users.close()
        await orders.close()

    definition = ServiceDefinition(
        name="bff",
        registrations=[
            Registration(
                "shop.bff.web.v1.WebBffService",
                WebBffServiceV1(sources, budgets),
                web_bff_pb2_grpc.add_WebBffServiceServicer_to_server,
            )
        ],
        policies=ServicePolicies.of(mesh, "bff"),
        validators=VALIDATORS,
        readiness_checks=checks,
        # Each server process holds its own tier 1: each listens for evictions.
        process_workers=workers,
        closers=[close_channels],
    )
    return GrpcService(definition, config)
