"""The contract file: which RPCs or events a consumer uses, the fields it sets and reads,
and example interactions. JSON, one file per consumer, provider and kind (rpc or events).

Why our own format and not a Pact file: docs/decisions.md. A field is named by its path
(`user.display_name`) with its numbers and wire type, so a rename, a renumbering or a
type change is told apart from a field that is simply gone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from protomesh.paths import ROOT

CONTRACTS_DIR = ROOT / "contracts"
FORMAT = 1
KINDS = ("rpc", "events")


@dataclass(frozen=True, order=True)
class FieldUse:
    """One field a consumer sets or reads: `user.display_name`, numbers (1, 3), type `string`."""

    path: str
    numbers: tuple[int, ...]
    type: str


@dataclass(frozen=True)
class RpcExample:
    """A request the consumer sends (values from the provider state as `${name}`) and the
    status it expects back."""

    name: str
    request: dict[str, Any]
    status: str
    given: str | None = None


@dataclass(frozen=True)
class RpcUse:
    method: str  # `shop.user.v1.UserService/GetUser`
    sets: tuple[FieldUse, ...]
    reads: tuple[FieldUse, ...]
    examples: tuple[RpcExample, ...]


@dataclass(frozen=True)
class EventExample:
    """An event the consumer was given (JSON), what became of it, and the effect it relies on."""

    name: str
    message: dict[str, Any]
    outcome: str  # "handled" or "rejected"
    effect: str


@dataclass(frozen=True)
class EventUse:
    event: str  # `shop.user.events.v1.UserRegistered`
    reads: tuple[FieldUse, ...]
    examples: tuple[EventExample, ...]


@dataclass(frozen=True)
class Contract:
    consumer: str
    provider: str
    recorded_by: str
    rpcs: tuple[RpcUse, ...] = ()
    events: tuple[EventUse, ...] = ()

    @property
    def kind(self) -> str:
        return "rpc" if self.rpcs else "events"

    def file_name(self) -> str:
        return f"{self.consumer}/{self.provider}-{self.kind}.json"

    def to_json(self) -> str:
        document = {"format": FORMAT, **asdict(self)}
        return json.dumps(document, indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Contract:
        document = json.loads(text)
        if document.get("format") != FORMAT:
            raise ValueError(f"unknown contract format {document.get('format')!r}")
        return cls(
            consumer=document["consumer"],
            provider=document["provider"],
            recorded_by=document["recorded_by"],
            rpcs=tuple(
                RpcUse(
                    method=rpc["method"],
                    sets=_fields(rpc["sets"]),
                    reads=_fields(rpc["reads"]),
                    examples=tuple(RpcExample(**example) for example in rpc["examples"]),
                )
                for rpc in document["rpcs"]
            ),
            events=tuple(
                EventUse(
                    event=event["event"],
                    reads=_fields(event["reads"]),
                    examples=tuple(EventExample(**example) for example in event["examples"]),
                )
                for event in document["events"]
            ),
        )


def _fields(items: list[dict[str, Any]]) -> tuple[FieldUse, ...]:
    return tuple(FieldUse(item["path"], tuple(item["numbers"]), item["type"]) for item in items)


@dataclass(frozen=True)
class ContractSet:
    """Every contract file under a directory."""

    contracts: tuple[Contract, ...] = field(default_factory=tuple)

    @classmethod
    def load(cls, directory: Path = CONTRACTS_DIR) -> ContractSet:
        files = sorted(directory.glob("*/*.json")) if directory.is_dir() else []
        return cls(tuple(Contract.from_json(path.read_text()) for path in files))

    def with_provider(self, provider: str) -> tuple[Contract, ...]:
        return tuple(c for c in self.contracts if c.provider == provider)
