"""One scrape of a service's `/metrics`, reduced to what the console draws.

The metric names are those of `protomesh.telemetry.metrics`: RPCs by method and
final code, their latency histogram, the outbox backlog and relay lag.
"""

from __future__ import annotations

import math
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client.parser import text_string_to_metric_families

SCRAPE_TIMEOUT = 1.0
K = TypeVar("K")

Buckets = dict[float, float]  # upper bound (seconds) -> cumulative count


@dataclass
class Scrape:
    """Counters as read at `at` (seconds, monotonic); absent metrics stay empty."""

    at: float
    requests: dict[tuple[str, str], float] = field(default_factory=dict)  # (method, code)
    latency: dict[str, Buckets] = field(default_factory=lambda: defaultdict(dict))
    backlog: dict[str, float] = field(default_factory=dict)  # outbox rows by stream
    relay_lag_sum: dict[str, float] = field(default_factory=dict)
    relay_lag_count: dict[str, float] = field(default_factory=dict)
    dead_letters: dict[str, float] = field(default_factory=dict)  # parked, by consumer


def parse(text: str, at: float) -> Scrape:
    """Samples of one label set add up: a replica of several server processes serves
    each process's under a `process` label of its own (`protomesh.telemetry.process_metrics`)."""
    scrape = Scrape(at)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels, value = sample.labels, sample.value
            if sample.name == "rpc_server_requests_total":
                _add(scrape.requests, (labels["method"], labels["code"]), value)
            elif sample.name == "rpc_server_duration_seconds_bucket":
                _add(scrape.latency[labels["method"]], float(labels["le"]), value)
            elif sample.name == "outbox_backlog_rows":
                _add(scrape.backlog, labels["stream"], value)
            elif sample.name == "outbox_relay_lag_seconds_sum":
                _add(scrape.relay_lag_sum, labels["stream"], value)
            elif sample.name == "outbox_relay_lag_seconds_count":
                _add(scrape.relay_lag_count, labels["stream"], value)
            elif sample.name == "consumer_dead_letters_total":
                _add(scrape.dead_letters, labels["consumer"], value)
    return scrape


def _add(into: dict[K, float], key: K, value: float) -> None:
    into[key] = into.get(key, 0.0) + value


def fetch(port: int, at: float, host: str = "127.0.0.1") -> Scrape:
    """Read one target; raises OSError (or ValueError on a garbled body) when it cannot."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=SCRAPE_TIMEOUT) as reply:
        return parse(reply.read().decode(), at)


@dataclass(frozen=True)
class RpcRates:
    """One method between two scrapes."""

    method: str
    per_second: float
    error_ratio: float  # non-OK share of the calls in the window; 0 with no calls
    p50_ms: float | None  # None with no calls in the window
    p99_ms: float | None


def rates(old: Scrape, new: Scrape) -> list[RpcRates]:
    """Per method, what happened between `old` and `new`; a restarted service counts from zero."""
    seconds = new.at - old.at
    if seconds <= 0:
        return []
    calls: dict[str, float] = defaultdict(float)
    errors: dict[str, float] = defaultdict(float)
    for key, value in new.requests.items():
        delta = _delta(old.requests.get(key, 0.0), value)
        method, code = key
        calls[method] += delta
        if code != "OK":
            errors[method] += delta
    found = []
    for method in sorted(set(calls) | set(new.latency)):
        buckets = {
            bound: _delta(old.latency.get(method, {}).get(bound, 0.0), count)
            for bound, count in new.latency.get(method, {}).items()
        }
        total = calls.get(method, 0.0)
        found.append(
            RpcRates(
                method,
                total / seconds,
                errors[method] / total if total else 0.0,
                _quantile(buckets, 0.5),
                _quantile(buckets, 0.99),
            )
        )
    return found


def _delta(before: float, after: float) -> float:
    return after if after < before else after - before


def _quantile(buckets: Buckets, q: float) -> float | None:
    """Milliseconds at quantile `q`, interpolated linearly inside its bucket, as Prometheus does.

    >>> _quantile({0.001: 0.0, 0.01: 10.0, math.inf: 10.0}, 0.5)
    5.5
    """
    ordered = sorted(buckets.items())
    total = ordered[-1][1] if ordered else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in ordered:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower * 1000  # past the last finite bound: say the bound
            inside = cumulative - below
            share = (rank - below) / inside if inside else 1.0
            return (lower + (bound - lower) * share) * 1000
        lower, below = bound, cumulative
    return lower * 1000
