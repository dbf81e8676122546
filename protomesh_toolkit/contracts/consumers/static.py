"""Static verification: every method, event and field a consumer relies on still exists in
the provider's descriptor set, with the same number and a compatible type.

When the relied-on package is gone but another major version of it exists (v1 retired,
v2 served), the check says so and names each field the new major drops or changes, so a
provider retiring a version learns which consumer still needs what.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.descriptor import Descriptor

from protomesh_toolkit.contracts.consumers.model import Contract, FieldUse
from protomesh_toolkit.contracts.consumers.problems import Broken
from protomesh_toolkit.contracts.consumers.schema import ProviderSchema, field_type


def field_problem(message: Descriptor, use: FieldUse) -> str | None:
    """Why `use` does not hold in `message`, or None when it does."""
    current: Descriptor | None = message
    names = use.path.split(".")
    for depth, (name, number) in enumerate(zip(names, use.numbers, strict=True)):
        if current is None:
            return f"{'.'.join(names[:depth])} is no longer a message"
        found = current.fields_by_name.get(name)
        if found is None:
            moved = current.fields_by_number.get(number)
            hint = f" (number {number} is now {moved.name!r})" if moved is not None else ""
            return f"field {'.'.join(names[: depth + 1])} is gone{hint}"
        if found.number != number:
            return f"field {'.'.join(names[: depth + 1])} was renumbered {number} -> {found.number}"
        if depth == len(names) - 1 and field_type(found) != use.type:
            return f"field {use.path} changed type {use.type} -> {field_type(found)}"
        current = found.message_type
    return None


def _fields(
    contract: Contract, subject: str, kind: str, message: Descriptor, uses: Iterable[FieldUse]
) -> list[Broken]:
    found = []
    for use in uses:
        problem = field_problem(message, use)
        if problem is not None:
            found.append(
                Broken(
                    contract.consumer, contract.provider, f"{subject} {kind} {use.path}", problem
                )
            )
    return found


def _retired(
    contract: Contract, subject: str, majors: list[str], dropped: list[str], kind: str
) -> Broken:
    if not majors:
        return Broken(contract.consumer, contract.provider, subject, f"the {kind} is gone")
    reason = f"the {kind} is gone; {', '.join(majors)} remains"
    if dropped:
        reason += f", but drops what {contract.consumer} relies on: {'; '.join(dropped)}"
    return Broken(contract.consumer, contract.provider, subject, reason)


def _verify_rpcs(contract: Contract, schema: ProviderSchema) -> list[Broken]:
    found: list[Broken] = []
    for rpc in contract.rpcs:
        method = schema.method(rpc.method)
        if method is not None:
            found += _fields(contract, rpc.method, "request", method.input_type, rpc.sets)
            found += _fields(contract, rpc.method, "response", method.output_type, rpc.reads)
            continue
        majors = schema.other_majors_of_service(rpc.method)
        dropped: list[str] = []
        for other in majors:
            candidate = schema.method(other)
            if candidate is None:
                dropped.append(f"{other} has no such method")
                continue
            for part, message, uses in (
                ("request", candidate.input_type, rpc.sets),
                ("response", candidate.output_type, rpc.reads),
            ):
                dropped += [
                    f"{part} {problem}"
                    for use in uses
                    if (problem := field_problem(message, use)) is not None
                ]
        found.append(_retired(contract, rpc.method, majors, dropped, "method"))
    return found


def _verify_events(contract: Contract, schema: ProviderSchema) -> list[Broken]:
    found: list[Broken] = []
    for event in contract.events:
        message = schema.message(event.event)
        if message is not None:
            found += _fields(contract, event.event, "field", message, event.reads)
            continue
        majors = schema.other_majors_of_message(event.event)
        dropped = [
            f"{other}: {problem}"
            for other in majors
            for use in event.reads
            if (problem := field_problem(schema.pool.FindMessageTypeByName(other), use))
        ]
        found.append(_retired(contract, event.event, majors, dropped, "event type"))
    return found


def verify_static(contract: Contract, schema: ProviderSchema) -> list[Broken]:
    return _verify_rpcs(contract, schema) + _verify_events(contract, schema)
