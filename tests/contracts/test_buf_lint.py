from __future__ import annotations

import subprocess

import pytest

from protomesh.paths import ROOT
from protomesh_toolkit.codegen import tool


@pytest.mark.integration
def test_the_contracts_pass_buf_lint() -> None:
    lint = subprocess.run(
        [tool("buf"), "lint"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
