"""The code stays ruff-clean, formatted and mypy-strict: the same checks as `make lint`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from protomesh.paths import ROOT
from protomesh_toolkit.codegen import tool


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_finds_nothing() -> None:
    result = run(tool("ruff"), "check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout


def test_the_code_is_formatted() -> None:
    result = run(tool("ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout


@pytest.mark.timeout(600)
def test_mypy_strict_passes() -> None:
    result = run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout
