"""Pattern 18: secrets and config per service, on the real user service process.

Proven here: typed config from the environment and files, validated at start
with every bad key named; per-environment overrides; secrets read from
`*_FILE` and never logged.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from protomesh.paths import ROOT
from tests.support import mesh_tls
from tests.support.postgres import Postgres
from tests.support.service import user_service

pytestmark = pytest.mark.integration


def test_a_bad_setting_stops_the_start_with_the_key_named(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "USER_SERVICE_PORT": "fifty", "USER_SERVICE_PROT": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "services.user"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "USER_SERVICE_PORT: expected an integer, got 'fifty'" in result.stderr
    assert "USER_SERVICE_DATABASE_URL: required" in result.stderr
    assert "USER_SERVICE_PROT: unknown setting (did you mean USER_SERVICE_PORT?)" in result.stderr


def test_passwords_never_reach_the_logs(postgres: Postgres, tmp_path: Path) -> None:
    service = user_service(postgres, tmp_path, log_level="debug")
    service.start()
    with mesh_tls.channel(service.address) as channel:
        v1_grpc.UserServiceStub(channel).CreateUser(
            v1.CreateUserRequest(email="secret@example.com", display_name="S"), timeout=5
        )
    assert service.terminate() == 0
    log = service.log()
    assert "Secret('***')" in log  # the config was logged, redacted
    for secret in service.secrets_shown:
        assert secret not in log


def test_the_environment_picks_its_overrides_from_the_config_file(
    postgres: Postgres, tmp_path: Path
) -> None:
    config_file = tmp_path / "user.yaml"
    config_file.write_text(
        "default_timeout: 30\nenvironments:\n  impatient:\n    default_timeout: 0.001\n"
    )
    outcomes = {}
    for environment in ("local", "impatient"):
        service = user_service(postgres, tmp_path, config_file=str(config_file))
        service.env["PROTOMESH_ENV"] = environment
        service.start()
        try:
            with mesh_tls.channel(service.address) as channel:
                stub = v1_grpc.UserServiceStub(channel)
                request = v1.CreateUserRequest(email=f"{environment}@example.com", display_name="E")
                stub.CreateUser(request)  # no deadline: the configured default applies
            outcomes[environment] = "OK"
        except grpc.RpcError as error:
            outcomes[environment] = error.code().name
        finally:
            assert service.terminate() == 0
    assert outcomes == {"local": "OK", "impatient": "DEADLINE_EXCEEDED"}
