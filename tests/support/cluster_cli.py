"""Run the `protomesh` command as a user does, against a test's own run dir and registry."""

from __future__ import annotations

import os
import subprocess
import sysconfig
from collections.abc import Mapping
from pathlib import Path

from protomesh.paths import ROOT

PROTOMESH = Path(sysconfig.get_path("scripts")) / "protomesh"


def cli_environment(
    run_dir: Path, mesh_file: Path, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The user's environment, pointed at this cluster; `extra` is set last.

    A PROTOMESH_INSECURE from the caller's shell never leaks in: a test asks for it.
    """
    inherited = {k: v for k, v in os.environ.items() if k != "PROTOMESH_INSECURE"}
    return {
        **inherited,
        "PROTOMESH_RUN_DIR": str(run_dir),
        "PROTOMESH_MESH_FILE": str(mesh_file),
        **(extra or {}),
    }


def run_protomesh(
    run_dir: Path,
    mesh_file: Path,
    *args: str,
    extra: Mapping[str, str] | None = None,
    timeout: float = 90,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROTOMESH), *args],
        cwd=ROOT,
        env=cli_environment(run_dir, mesh_file, extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
