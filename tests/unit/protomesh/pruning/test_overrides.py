"""Shorter retentions from the environment (soak runs, tests): applied, checked, and loud."""

from __future__ import annotations

import logging

import pytest

from protomesh.config import ConfigError
from protomesh.pruning import effective_retention
from protomesh.registry import Retention


def test_without_overrides_the_registry_values_stand(caplog: pytest.LogCaptureFixture) -> None:
    assert effective_retention(Retention(), {}) == Retention()
    assert not caplog.records


def test_overrides_replace_the_registry_values_and_warn_below_the_floor(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {"PROTOMESH_PRUNE_PROCESSED_EVENTS": "60", "PROTOMESH_PRUNE_EVERY": "15"}
    with caplog.at_level(logging.WARNING, "protomesh.pruning"):
        retention = effective_retention(Retention(outbox=7200.0, batch=50), env)
    assert retention == Retention(processed_events=60.0, outbox=7200.0, every=15.0, batch=50)
    assert "less than the event streams' max_age" in caplog.text


def test_a_misspelt_or_bad_override_is_refused() -> None:
    with pytest.raises(ConfigError, match="PROTOMESH_PRUNE_OUTBX: unknown setting"):
        effective_retention(Retention(), {"PROTOMESH_PRUNE_OUTBX": "30"})
    with pytest.raises(ConfigError, match=r"PROTOMESH_PRUNE_EVERY: must be at least 0\.1"):
        effective_retention(Retention(), {"PROTOMESH_PRUNE_EVERY": "0"})
