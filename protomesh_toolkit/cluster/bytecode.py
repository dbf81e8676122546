"""Where the cluster's Python processes keep their compiled modules.

Shells and images often set PYTHONDONTWRITEBYTECODE, to keep a checkout free
of `__pycache__` folders. Then every start of every service compiles the
project's and the generated modules again: about 40 ms of the user service's
~0.3 s of CPU to SERVING, measured on an idle machine, and several times that
on a busy one, paid again at each restart after a crash. For the processes it
starts, the cluster keeps that wish (nothing is written beside the sources)
and still caches: the bytecode goes under the run dir (PYTHONPYCACHEPREFIX),
which `protomesh down --purge` deletes with the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

NO_BYTECODE = "PYTHONDONTWRITEBYTECODE"
PREFIX = "PYTHONPYCACHEPREFIX"


def cached_in(directory: Path, environment: Mapping[str, str]) -> dict[str, str]:
    """`environment`, with bytecode written under `directory` instead of not at all."""
    env = dict(environment)
    if not env.get(NO_BYTECODE):
        return env  # Python writes it beside the sources, or where PYTHONPYCACHEPREFIX says
    del env[NO_BYTECODE]
    env.setdefault(PREFIX, str(directory))
    return env
