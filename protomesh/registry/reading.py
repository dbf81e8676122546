"""Reading checked values out of parsed YAML, collecting every problem on the way.

`Reader` never stops at the first mistake: each check records a problem
prefixed with its path in the file and returns a harmless stand-in, so one
run reports everything that is wrong.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Hashable
from typing import Any

import yaml

from protomesh.registry.model import Ports

_NAME = re.compile(r"[a-z][a-z0-9-]*")
_SQL_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # unquoted PostgreSQL identifiers
PROTO_SERVICE = re.compile(r"([a-z_][a-z0-9_]*\.)+[A-Z][A-Za-z0-9]*")
# shop.<context>.events.v<N>.<Name>: the outbox derives subject and version from it.
EVENT_TYPE = re.compile(r"shop(\.[a-z_][a-z0-9_]*)+\.events\.v[1-9][0-9]*\.[A-Z][A-Za-z0-9]*")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0}
# What each string-valued key must look like, and how to say so when it does not.
RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "trust_domain": (re.compile(r"[a-z0-9][a-z0-9._-]*"), "a trust domain like protomesh.local"),
    "environments": (_NAME, "an environment name like local"),
    "module": (re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*"), "a module like services.user"),
    "env_prefix": (re.compile(r"[A-Z][A-Z0-9_]*_"), "a prefix like USER_SERVICE_"),
    "schema": (_SQL_NAME, "a lower-case SQL name"),
    "role": (_SQL_NAME, "a lower-case SQL name"),
    "serves": (PROTO_SERVICE, "a proto service like shop.user.v1.UserService"),
    "depends_on": (_NAME, "a component name"),
    "produces": (EVENT_TYPE, "an event type like shop.order.events.v1.OrderPlaced"),
    "consumes": (EVENT_TYPE, "an event type like shop.order.events.v1.OrderPlaced"),
    "name": (_NAME, "a name of lower-case letters, digits and '-'"),
    "identities": (_NAME, "an identity name like operator"),
    "end_user_from": (_NAME, "an identity name like edge"),
    "issuer": (re.compile(r"\S+"), "an issuer like https://auth.example.com"),
    "audiences": (re.compile(r"\S+"), "an audience like protomesh-edge"),
    "allowed_origins": (
        re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?"),
        "an origin like https://app.example.com (scheme, host, optional port)",
    ),
    "api_key_header": (re.compile(r"[a-z][a-z0-9-]*"), "a lower-case header name like x-api-key"),
}
Keys = Collection[str] | None


class StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; in a registry that silently drops a service."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: list[Any] = []  # a list: the base class reports unhashable keys, not us
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.append(key)
        return super().construct_mapping(node, deep)


def join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def suggest(key: object, known: Collection[str]) -> str:
    close = difflib.get_close_matches(str(key), list(known), n=1)
    if close:
        return f" (did you mean {close[0]}?)"
    return f" (expected one of: {', '.join(known)})" if known else ""


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Reader:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path or 'top level'}: {message}")

    def mapping(
        self, value: object, path: str, required: Collection[str] = (), optional: Keys = ()
    ) -> dict[Any, Any]:
        """The mapping at `path`; `optional=None` allows any key."""
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping, got {type(value).__name__}")
            return {}
        known = [*required, *(optional or ())]
        for key in value:
            if optional is not None and key not in known:
                self.fail(join(path, key), f"unknown key{suggest(key, known)}")
        for key in required:
            if key not in value:
                self.fail(join(path, key), "required but missing")
        return value

    def string(self, fields: dict[Any, Any], key: str, path: str) -> str | None:
        pattern, what = RULES[key]
        value = fields.get(key)
        if key in fields and not (isinstance(value, str) and pattern.fullmatch(value)):
            self.fail(join(path, key), f"{value!r} is not {what}")
            return None
        return value

    def strings(self, fields: dict[Any, Any], key: str, path: str) -> tuple[str, ...]:
        pattern, what = RULES[key]
        value = fields.get(key, [])
        if not isinstance(value, list):
            self.fail(join(path, key), f"expected a list, got {type(value).__name__}")
            return ()
        items: list[str] = []
        for index, item in enumerate(value):
            where = f"{join(path, key)}[{index}]"
            if not isinstance(item, str) or not pattern.fullmatch(item):
                self.fail(where, f"{item!r} is not {what}")
            elif item in items:
                self.fail(where, f"{item} is listed twice")
            else:
                items.append(item)
        return tuple(items)

    def ports(
        self, value: object, where: str, environments: tuple[str, ...], *, every: bool = True
    ) -> Ports:
        """A port per environment; `every=False` lets some environments go without."""
        required = environments if every else ()
        raw = self.mapping(value, where, required, environments)
        ports: dict[str, int] = {}
        for environment, port in raw.items():
            if environment not in environments:
                continue
            if is_int(port) and 0 < port < 65536:
                ports[environment] = port
            else:
                self.fail(f"{where}.{environment}", f"{port!r} is not a port number (1-65535)")
        return ports

    def count(self, fields: dict[Any, Any], key: str, path: str, default: int) -> int:
        """A whole number of at least 1 (or 0 for `retries`)."""
        value = fields.get(key, default)
        least = 0 if key == "retries" else 1
        if not is_int(value) or value < least:
            self.fail(join(path, key), f"{value!r} is not a whole number >= {least}")
            return default
        return int(value)

    def flag(self, fields: dict[Any, Any], key: str, path: str) -> bool | None:
        value = fields.get(key)
        if value is not None and not isinstance(value, bool):
            self.fail(join(path, key), f"{value!r} is not true or false")
            return None
        return value

    def duration(self, fields: dict[Any, Any], key: str, path: str) -> float | None:
        """Seconds from `250ms`, `2s`, `1.5s` or `1m`; zero is refused (Envoy reads it as never)."""
        value = fields.get(key)
        if value is None:
            return None
        match = _DURATION.fullmatch(value) if isinstance(value, str) else None
        seconds = float(match[1]) * _DURATION_UNITS[match[2]] if match else 0.0
        if seconds <= 0:
            self.fail(join(path, key), f"{value!r} is not a duration like 250ms, 2s or 1m")
            return None
        return seconds
