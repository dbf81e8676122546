"""Typed configuration for a service, read once at start and validated whole.

A service declares a frozen dataclass; `load_config` fills it from, lowest
precedence first:

1. the dataclass defaults,
2. a YAML file named by `<PREFIX>CONFIG_FILE` (top-level keys, then the
   `environments.<PROTOMESH_ENV>` section as per-environment overrides),
3. environment variables `<PREFIX><FIELD>`,
4. files named by `<PREFIX><FIELD>_FILE` — the way secrets arrive (Docker and
   Kubernetes mount them as files), so they never sit in the environment.

Every problem is collected and reported at once, each naming the key to fix:
`USER_SERVICE_PORT: expected an integer, got 'http'`. Values typed `Secret`
never print: a config object can be logged safely.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

ENVIRONMENT_VARIABLE = "PROTOMESH_ENV"


class Secret:
    """A string that shows as `***` everywhere except through `reveal()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class ConfigError(Exception):
    """Configuration is invalid; `problems` has one line per bad key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


def setting(
    default: Any = dataclasses.MISSING,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] | None = None,
    doc: str = "",
) -> Any:
    """Declare a field with bounds or allowed values checked at load time."""
    metadata = {"minimum": minimum, "maximum": maximum, "choices": choices, "doc": doc}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def current_environment(env: Mapping[str, str]) -> str:
    return env.get(ENVIRONMENT_VARIABLE, "local")


def load_config(cls: type[T], prefix: str, env: Mapping[str, str] | None = None) -> T:
    """Build `cls` from files and environment, or raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    problems: list[str] = []
    file_values = _read_config_file(prefix, env, problems)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}

    for name, field in fields.items():
        key = f"{prefix}{name.upper()}"
        raw, source = _raw_value(key, name, env, file_values, problems)
        if raw is None:
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                problems.append(f"{key}: required, not set (or set {key}_FILE)")
            continue
        try:
            value = _convert(raw, hints[name])
            _check_bounds(value, field.metadata)
        except ValueError as error:
            shown = "***" if _is_secret(hints[name]) else repr(raw)
            problems.append(f"{key}: {error}, got {shown} (from {source})")
            continue
        values[name] = value

    _reject_unknown_keys(prefix, env, fields, problems)
    _reject_unknown_file_keys(prefix, file_values, fields, problems)
    if problems:
        raise ConfigError(problems)
    return cls(**values)


def secret_values(config: object) -> list[str]:
    """The revealed values of a loaded config's `Secret` fields, for the log redactor."""
    values = [getattr(config, f.name) for f in dataclasses.fields(config)]  # type: ignore[arg-type]
    return [value.reveal() for value in values if isinstance(value, Secret)]


def _read_config_file(prefix: str, env: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    key = f"{prefix}CONFIG_FILE"
    path = env.get(key)
    if not path:
        return {}
    try:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        problems.append(f"{key}: cannot read {path}: {error}")
        return {}
    if not isinstance(loaded, dict):
        problems.append(f"{key}: {path} must hold a mapping of settings")
        return {}
    overrides = loaded.pop("environments", {}) or {}
    selected = overrides.get(current_environment(env), {}) or {}
    return {**loaded, **selected}


def _raw_value(
    key: str, name: str, env: Mapping[str, str], file_values: Mapping[str, Any], problems: list[str]
) -> tuple[Any, str]:
    file_key = f"{key}_FILE"
    if file_key in env:
        try:
            return Path(env[file_key]).read_text().rstrip("\r\n"), file_key
        except OSError as error:
            problems.append(f"{file_key}: cannot read {env[file_key]}: {error.strerror}")
            return None, file_key
    if key in env:
        return env[key], "environment"
    if name in file_values:
        return file_values[name], "config file"
    return None, ""


def _is_secret(hint: Any) -> bool:
    return hint is Secret or Secret in typing.get_args(hint)


def _convert(raw: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if raw in ("", None):
            return None
        return _convert(raw, options[0])
    if origin is tuple:
        items = raw if isinstance(raw, list) else [s for s in str(raw).split(",") if s.strip()]
        return tuple(str(item).strip() for item in items)
    if hint is bool:
        return _to_bool(raw)
    if hint is int:
        return _to_number(raw, int, "an integer")
    if hint is float:
        return _to_number(raw, float, "a number")
    if hint is Path:
        return Path(str(raw))
    if hint is Secret:
        return Secret(str(raw))
    if hint is str:
        return str(raw)
    raise TypeError(f"unsupported config type {hint!r}")


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _to_number(raw: Any, kind: type[int] | type[float], noun: str) -> int | float:
    if isinstance(raw, bool):
        raise ValueError(f"expected {noun}")
    try:
        return kind(str(raw).strip())
    except ValueError:
        raise ValueError(f"expected {noun}") from None


def _check_bounds(value: Any, metadata: Mapping[str, Any]) -> None:
    minimum, maximum, choices = (metadata.get(k) for k in ("minimum", "maximum", "choices"))
    if minimum is not None and value is not None and value < minimum:
        raise ValueError(f"must be at least {minimum}")
    if maximum is not None and value is not None and value > maximum:
        raise ValueError(f"must be at most {maximum}")
    if choices is not None and value not in choices:
        raise ValueError(f"must be one of {', '.join(choices)}")


def _reject_unknown_keys(
    prefix: str, env: Mapping[str, str], fields: Mapping[str, Any], problems: list[str]
) -> None:
    """A typo (`USER_SERVICE_PROT`) must fail loudly, not fall back to a default."""
    known = {f"{prefix}{name.upper()}" for name in fields}
    known |= {f"{k}_FILE" for k in known} | {f"{prefix}CONFIG_FILE"}
    for key in sorted(k for k in env if k.startswith(prefix) and k not in known):
        hint = difflib.get_close_matches(key, sorted(known), n=1)
        suggestion = f" (did you mean {hint[0]}?)" if hint else ""
        problems.append(f"{key}: unknown setting{suggestion}")


def _reject_unknown_file_keys(
    prefix: str, file_values: Mapping[str, Any], fields: Mapping[str, Any], problems: list[str]
) -> None:
    for name in sorted(set(file_values) - set(fields)):
        problems.append(f"{prefix}CONFIG_FILE: unknown setting {name!r}")
