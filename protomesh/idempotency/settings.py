"""Idempotency settings shared by every service with idempotent RPCs (a config mixin)."""

from __future__ import annotations

from dataclasses import dataclass

from protomesh.config import setting


@dataclass(frozen=True, kw_only=True)
class IdempotencySettings:
    idempotency_retention: float = setting(
        86400.0, minimum=1.0, doc="seconds an idempotency key and its response are kept"
    )
