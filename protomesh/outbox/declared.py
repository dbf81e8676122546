"""The event types this process may append to its outbox: what mesh.yaml says it produces.

A service's bootstrap declares its `produces` list once (`declare_produced`);
from then on `append_event` refuses any other type, before the row is written,
so an event nobody declared never reaches the bus and consumers never meet a
type the catalogue (`protomesh events`) does not list. One process runs one
service, so the declaration is the process's. A process that never declares
(a library user without a registry, a unit test) appends any type.
"""

from __future__ import annotations

from collections.abc import Iterable


class UndeclaredEventType(ValueError):
    """An event type the service's `produces` list in mesh.yaml does not name."""


class _Declaration:
    """The process's declared types; None until the service declares."""

    def __init__(self) -> None:
        self.types: frozenset[str] | None = None


_DECLARATION = _Declaration()


def declare_produced(event_types: Iterable[str]) -> None:
    """From now on, only these types (full proto names) may be appended."""
    _DECLARATION.types = frozenset(event_types)


def forget_declaration() -> None:
    """Back to accepting any type (for tests that declare)."""
    _DECLARATION.types = None


def check_declared(event_type: str) -> None:
    """Raise `UndeclaredEventType` unless the declaration allows `event_type`."""
    produced = _DECLARATION.types
    if produced is not None and event_type not in produced:
        allowed = ", ".join(sorted(produced)) or "nothing"
        raise UndeclaredEventType(
            f"{event_type} is not in this service's `produces` list in mesh.yaml "
            f"(it declares: {allowed}); declare it there first"
        )
