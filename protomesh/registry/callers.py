"""Each service's `callers` section: which identity may call which of its RPCs.

    callers:
      shop.user.v1.UserService/GetUser: [edge, order]   # this method: these callers
      shop.user.v1.UserService/*: [edge]                     # every other method of it

The most specific key wins (a method's list replaces its service's `*`), and a
method no key covers is denied to everyone: deny by default. A caller is
named by its certificate's identity: a service of this registry, `edge`, or a
name under the top-level `identities:` list (humans and tools that hold a
certificate but are not run by this registry, like `operator`, the human
with grpcurl). An unknown name is an error, so a typo cannot silently lock a
caller out, and a service that does not exist yet cannot be granted access
(nor get a certificate) ahead of time: it gets both when it is declared.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from protomesh.registry.model import Service
from protomesh.registry.reading import PROTO_SERVICE, Reader, suggest

_NAME = re.compile(r"[a-z][a-z0-9-]*")
_KEY = re.compile(rf"(?P<service>{PROTO_SERVICE.pattern})/(?P<method>[A-Z][A-Za-z0-9]*|\*)")


def read_callers(
    reader: Reader, value: object, path: str, serves: tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    raw = reader.mapping(value, path, (), None)
    callers: dict[str, tuple[str, ...]] = {}
    for key, names in raw.items():
        where = f"{path}.{key}"
        match = _KEY.fullmatch(key) if isinstance(key, str) else None
        if match is None:
            reader.fail(where, "expected pkg.Service/Method or pkg.Service/* as the key")
            continue
        if match["service"] not in serves:
            reader.fail(where, f"{match['service']} is not in this service's serves")
            continue
        callers[key] = _names(reader, names, where)
    return callers


def check_identities(
    reader: Reader, identities: tuple[str, ...], services: Collection[str]
) -> None:
    """`identities:` declares certificate holders this registry does not run (the operator,
    a tool): a service or the edge gets its certificate from being declared, and listing
    one here would keep its certificate, and its access, alive after it is removed."""
    for index, name in enumerate(identities):
        if name in services or name == "edge":
            reader.fail(
                f"identities[{index}]",
                f"{name} is {'the edge' if name == 'edge' else 'a service'}: its certificate "
                "comes with it; list only holders this file does not run",
            )


def check_caller_names(
    reader: Reader, services: Mapping[str, Service], known: Collection[str]
) -> None:
    for service in services.values():
        for key, names in service.callers.items():
            for index, name in enumerate(names):
                if name not in known:
                    reader.fail(
                        f"{service.path}.callers.{key}[{index}]",
                        f"{name} is no known identity{suggest(name, known)}; "
                        "name a service, edge, or add it to the top-level identities",
                    )
        for index, name in enumerate(service.end_user_from):
            if name not in known and name != "edge":  # the default, with or without an edge
                reader.fail(
                    f"{service.path}.end_user_from[{index}]",
                    f"{name} is no known identity{suggest(name, known)}",
                )


def _names(reader: Reader, value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        reader.fail(where, f"expected a list of identity names, got {type(value).__name__}")
        return ()
    names: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not _NAME.fullmatch(item):
            reader.fail(f"{where}[{index}]", f"{item!r} is not an identity name like edge")
        elif item in names:
            reader.fail(f"{where}[{index}]", f"{item} is listed twice")
        else:
            names.append(item)
    return tuple(names)
