"""The cluster's Python processes cache their bytecode, under the run dir when asked not
to write it beside the sources."""

from __future__ import annotations

from pathlib import Path

from protomesh_toolkit.cluster.bytecode import cached_in

CACHE = Path("/run-dir/pycache")


def test_where_the_shell_forbids_bytecode_it_goes_under_the_run_dir() -> None:
    env = cached_in(CACHE, {"PYTHONDONTWRITEBYTECODE": "1", "HOME": "/home/me"})
    assert env == {"PYTHONPYCACHEPREFIX": str(CACHE), "HOME": "/home/me"}


def test_a_prefix_the_user_chose_is_kept() -> None:
    env = cached_in(CACHE, {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": "/mine"})
    assert env == {"PYTHONPYCACHEPREFIX": "/mine"}


def test_without_the_setting_nothing_changes() -> None:
    given = {"PYTHONDONTWRITEBYTECODE": "", "PATH": "/bin"}
    assert cached_in(CACHE, given) == given
    assert cached_in(CACHE, {}) == {}
