"""The process's metrics, in prometheus-client's registry: the one source of truth.

RED per RPC for servers and clients (requests by status code, latency
histograms), the database pool, and the event pipeline (outbox backlog and
relay lag, consumer redeliveries and dead letters). A scrape of
`<PREFIX>METRICS_PORT` reads them in Prometheus text format
(`protomesh.telemetry.exposition`); no service label is added, because the
scrape target already says which service it is.

The instruments are made on first use, not at import, and once per process
(prometheus-client refuses to register a name twice). The functions at the
bottom are the hooks the outbox relay and the consumers call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Seconds. Unary calls here take from a fraction of a millisecond to seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


@dataclass(frozen=True)
class Instruments:
    server_requests: Counter
    server_duration: Histogram
    client_requests: Counter
    client_duration: Histogram
    outbox_backlog: Gauge
    relay_lag: Histogram
    redeliveries: Counter
    dead_letters: Counter


@functools.cache
def instruments() -> Instruments:
    return Instruments(
        server_requests=Counter(
            "rpc_server_requests",
            "RPCs handled, by method and final gRPC status code",
            ["method", "code"],
        ),
        server_duration=Histogram(
            "rpc_server_duration_seconds",
            "Time to handle an RPC, by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
        ),
        client_requests=Counter(
            "rpc_client_requests",
            "RPCs made to other services, by method and final gRPC status code",
            ["method", "code"],
        ),
        client_duration=Histogram(
            "rpc_client_duration_seconds",
            "Time an outgoing RPC took, by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
        ),
        outbox_backlog=Gauge(
            "outbox_backlog_rows", "Outbox rows written but not yet published", ["stream"]
        ),
        relay_lag=Histogram(
            "outbox_relay_lag_seconds",
            "From an outbox row's commit to its publish acknowledgement",
            ["stream"],
            buckets=LAG_BUCKETS,
        ),
        redeliveries=Counter(
            "consumer_redeliveries",
            "Messages a consumer received again (delivered more than once)",
            ["consumer"],
        ),
        dead_letters=Counter(
            "consumer_dead_letters",
            "Messages a consumer gave up on and parked in the dead-letter stream",
            ["consumer"],
        ),
    )


def set_outbox_backlog(stream: str, rows: int) -> None:
    """The relay's view of unpublished rows, after each pass."""
    instruments().outbox_backlog.labels(stream).set(rows)


def observe_relay_lag(stream: str, seconds: float) -> None:
    """One published row: seconds from its commit (created_at) to the publish ack."""
    instruments().relay_lag.labels(stream).observe(seconds)


def count_redelivery(consumer: str) -> None:
    """A message arrived with `num_delivered > 1`."""
    instruments().redeliveries.labels(consumer).inc()


def count_dead_letter(consumer: str) -> None:
    """A message was moved to the dead-letter stream."""
    instruments().dead_letters.labels(consumer).inc()


class _PoolCollector(Collector):
    """Reads each watched pool's sizes at scrape time: nothing to keep up to date."""

    def __init__(self) -> None:
        self.pools: dict[str, tuple[Callable[[], int], Callable[[], int], int]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "db_pool_connections", "Database pool connections by state", labels=["pool", "state"]
        )
        for name, (size, idle, limit) in list(self.pools.items()):
            open_now, idle_now = size(), idle()
            family.add_metric([name, "in_use"], open_now - idle_now)
            family.add_metric([name, "idle"], idle_now)
            family.add_metric([name, "max"], limit)
        yield family


@functools.cache
def _pools() -> _PoolCollector:
    collector = _PoolCollector()
    REGISTRY.register(collector)
    return collector


def watch_pool(name: str, size: Callable[[], int], idle: Callable[[], int], limit: int) -> None:
    """Expose a pool's usage under `name` (a later pool of the same name replaces it).

    For asyncpg: `watch_pool("users", pool.get_size, pool.get_idle_size, pool.get_max_size())`;
    `protomesh.db.pool.create_pool` does it for every service's pool.
    """
    _pools().pools[name] = (size, idle, limit)
