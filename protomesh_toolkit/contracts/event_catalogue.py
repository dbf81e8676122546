"""The event catalogue: every event type of the contracts, with who publishes and reads it.

Built from two sources that must agree: the descriptor set (which event
messages exist, in which major versions, in which file) and mesh.yaml (each
service's `produces` and `consumes`). What does not agree is reported beside
the catalogue, never hidden: a message nobody declares producing, or one
that is not where its `ce-dataschema` reference says (`events.proto`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2

from protomesh.bus.cloudevents import EVENTS_FILE, dataschema_for
from protomesh.outbox.naming import EventNameError, schema_version, subject_for
from protomesh.registry import Mesh


@dataclass(frozen=True)
class EventEntry:
    """One event type as it travels on the bus."""

    type: str  # full proto name
    subject: str
    version: int  # this type's major version
    versions: tuple[int, ...]  # every major of the same event name the contracts define
    dataschema: str
    proto_file: str
    producer: str | None
    consumers: tuple[str, ...]


@dataclass(frozen=True)
class EventCatalogue:
    entries: tuple[EventEntry, ...]
    problems: tuple[str, ...]


def event_messages(descriptor_set: Path) -> dict[str, str]:
    """Full name → proto file of every message in a `shop.<context>.events.v<N>` package."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    found: dict[str, str] = {}
    for file in files.file:
        if ".events.v" not in f"{file.package}.":
            continue
        for message in file.message_type:
            found[f"{file.package}.{message.name}"] = file.name
    return found


def _family(event_type: str) -> str:
    """The event's name without its major: shop.order.events.OrderPlaced."""
    parts = event_type.split(".")
    return ".".join(parts[:-2] + parts[-1:])


def build_catalogue(mesh: Mesh, messages: Mapping[str, str]) -> EventCatalogue:
    problems: list[str] = []
    versions: dict[str, list[int]] = {}
    for name in messages:
        versions.setdefault(_family(name), []).append(schema_version(name))
    entries: list[EventEntry] = []
    for name, proto_file in sorted(messages.items()):
        try:
            subject = subject_for(name)
        except EventNameError as error:
            problems.append(str(error))
            continue
        expected_file = "/".join(name.split(".")[:-1]) + "/" + EVENTS_FILE
        if proto_file != expected_file:
            problems.append(f"{name} is in {proto_file}; its ce-dataschema names {expected_file}")
        producer = mesh.producer_of(name)
        if producer is None:
            problems.append(f"{name}: no service in mesh.yaml produces it")
        entries.append(
            EventEntry(
                type=name,
                subject=subject,
                version=schema_version(name),
                versions=tuple(sorted(versions[_family(name)])),
                dataschema=dataschema_for(name),
                proto_file=proto_file,
                producer=producer.name if producer else None,
                consumers=tuple(s.name for s in mesh.consumers_of(name)),
            )
        )
    return EventCatalogue(tuple(entries), tuple(problems))


def render(catalogue: EventCatalogue) -> str:
    """A table a person reads: one line per event type, then what does not agree."""
    header = ("SUBJECT", "TYPE", "VERSIONS", "PRODUCER", "CONSUMERS")
    rows = [header] + [
        (
            entry.subject,
            entry.type,
            ", ".join(f"v{v}*" if v == max(entry.versions) else f"v{v}" for v in entry.versions),
            entry.producer or "-",
            ", ".join(entry.consumers) or "-",
        )
        for entry in catalogue.entries
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.append("")
    lines.append("VERSIONS: every major of the event the contracts define; * the newest.")
    lines.append("Schemas: ce-dataschema proto:<package path>/events.proto#<Message>.")
    lines += [f"problem: {problem}" for problem in catalogue.problems]
    return "\n".join(lines)
