"""The web BFF's settings: `BFF_SERVICE_<NAME>` variables.

The user and order services and NATS are found in the registry (mesh.yaml)
for the environment named by PROTOMESH_ENV; only NATS can be overridden.
"""

from __future__ import annotations

from dataclasses import dataclass

from protomesh.config import setting
from protomesh.settings import ServerSettings

PREFIX = "BFF_SERVICE_"


SHARED_CACHE_BUCKET = "bff_web_cache"  # NATS permits bff this bucket (nats_auth.py)


@dataclass(frozen=True, kw_only=True)
class BffServiceConfig(ServerSettings):
    port: int = setting(50053, minimum=0, maximum=65535, doc="gRPC port; 0 picks a free one")
    nats_url: str | None = setting(
        None, doc="nats://HOST:PORT for cache tier 2 and the invalidating events"
    )
    user_timeout: float = setting(
        0.8,
        minimum=0.01,
        doc="seconds the user service gets per screen (less if the caller has less)",
    )
    order_timeout: float = setting(
        0.8,
        minimum=0.01,
        doc="seconds the order service gets per screen (less if the caller has less)",
    )
    cache_ttl: float = setting(30.0, minimum=0.01, doc="seconds an entry lives in tier 1 at most")
    cache_size: int = setting(10_000, minimum=1, doc="entries per cache in tier 1 at most")
    shared_cache_bucket: str = setting(
        SHARED_CACHE_BUCKET,
        doc="the JetStream KV bucket of tier 2 (the mesh's NATS lets bff use this one only)",
    )
    shared_cache_ttl: float = setting(
        60.0, minimum=1.0, doc="seconds an entry lives in tier 2 at most (the bucket's max age)"
    )
    shared_cache_timeout: float = setting(
        0.1, minimum=0.001, doc="seconds a tier-2 read or write may take before it counts as a miss"
    )
