from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from protomesh.config import ConfigError, Secret, load_config, setting


@dataclass(frozen=True, kw_only=True)
class ExampleConfig:
    port: int = setting(minimum=1, maximum=65535)
    database_url: str = setting()
    database_password: Secret | None = setting(None)
    timeout: float = setting(2.5, minimum=0)
    debug: bool = setting(False)
    mode: str = setting("fast", choices=("fast", "safe"))
    origins: tuple[str, ...] = setting(())


BASE = {"SVC_PORT": "8080", "SVC_DATABASE_URL": "postgresql://svc@db/app"}


def test_reads_typed_values_from_the_environment() -> None:
    config = load_config(
        ExampleConfig, "SVC_", {**BASE, "SVC_DEBUG": "yes", "SVC_ORIGINS": "a.io, b.io"}
    )
    assert (config.port, config.timeout, config.debug) == (8080, 2.5, True)
    assert config.origins == ("a.io", "b.io")


def test_reports_every_bad_key_at_once_by_name() -> None:
    env = {"SVC_PORT": "http", "SVC_TIMEOUT": "-1", "SVC_MODE": "reckless"}
    with pytest.raises(ConfigError) as raised:
        load_config(ExampleConfig, "SVC_", env)
    problems = "\n".join(raised.value.problems)
    assert "SVC_PORT: expected an integer, got 'http'" in problems
    assert "SVC_DATABASE_URL: required, not set" in problems
    assert "SVC_TIMEOUT: must be at least 0" in problems
    assert "SVC_MODE: must be one of fast, safe" in problems


def test_a_misspelt_key_fails_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"SVC_PROT: unknown setting \(did you mean SVC_PORT\?\)"):
        load_config(ExampleConfig, "SVC_", {**BASE, "SVC_PROT": "1"})


def test_secrets_come_from_files_and_never_print(tmp_path: Path) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text("hunter2\n")
    config = load_config(
        ExampleConfig, "SVC_", {**BASE, "SVC_DATABASE_PASSWORD_FILE": str(secret_file)}
    )
    assert config.database_password is not None
    assert config.database_password.reveal() == "hunter2"
    assert "hunter2" not in repr(config)
    assert "hunter2" not in str(config)


def test_an_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match="SVC_DATABASE_PASSWORD_FILE: cannot read"):
        load_config(ExampleConfig, "SVC_", {**BASE, "SVC_DATABASE_PASSWORD_FILE": str(missing)})


def test_a_bad_secret_value_is_not_echoed_in_the_error(tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class Strict:
        token: Secret = setting(choices=("x",))

    with pytest.raises(ConfigError) as raised:
        load_config(Strict, "S_", {"S_TOKEN": "topsecret"})
    assert "topsecret" not in str(raised.value)


def test_file_values_with_per_environment_overrides_lose_to_the_environment(
    tmp_path: Path,
) -> None:
    config_file = tmp_path / "svc.yaml"
    config_file.write_text(
        "port: 1000\ntimeout: 5\nmode: safe\n"
        "environments:\n  compose:\n    port: 2000\n  local:\n    port: 3000\n"
    )
    env = {
        "SVC_CONFIG_FILE": str(config_file),
        "PROTOMESH_ENV": "compose",
        "SVC_DATABASE_URL": "postgresql://svc@db/app",
        "SVC_TIMEOUT": "7",
    }
    config = load_config(ExampleConfig, "SVC_", env)
    assert (config.port, config.timeout, config.mode) == (2000, 7.0, "safe")


def test_unknown_keys_in_the_file_are_errors(tmp_path: Path) -> None:
    config_file = tmp_path / "svc.yaml"
    config_file.write_text("prot: 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_config(ExampleConfig, "SVC_", {**BASE, "SVC_CONFIG_FILE": str(config_file)})
