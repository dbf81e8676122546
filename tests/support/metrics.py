"""Read a Prometheus sample of this process's registry (what /metrics would show)."""

from __future__ import annotations

from prometheus_client import REGISTRY


def sample(name: str, **labels: str) -> float:
    """The sample's value now; 0 before its first observation."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def total(name: str) -> float:
    """The sum of the sample over every label set (a relay without declared streams labels
    each event by its subject)."""
    return sum(s.value for metric in REGISTRY.collect() for s in metric.samples if s.name == name)
