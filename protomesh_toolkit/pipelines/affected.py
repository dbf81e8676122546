"""Which pipelines a change touches: the changed files against each pipeline's paths.

The files are those that differ between the base (the same base `contract-check` uses:
`--base REF`, else where the branch left main, else HEAD~1) and the working tree, plus
untracked files, so an uncommitted change is routed too.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

from protomesh_toolkit.contracts.git_base import Base, resolve_base
from protomesh_toolkit.pipelines.globs import matches_any
from protomesh_toolkit.pipelines.plan import Pipeline


def _git(repo: Path, *args: str) -> list[str]:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return [line for line in done.stdout.splitlines() if line]


def changed_files(repo: Path, base: Base) -> list[str]:
    changed = _git(repo, "diff", "--name-only", "--no-renames", base.commit)
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard")
    return sorted({*changed, *untracked})


def base_for(repo: Path, ref: str | None) -> Base:
    return resolve_base(ref, repo)


def affected(pipelines: Iterable[Pipeline], files: Iterable[str]) -> list[Pipeline]:
    files = list(files)
    return [p for p in pipelines if any(matches_any(p.paths, path) for path in files)]


def files_to_test(pipelines: Iterable[Pipeline]) -> list[str]:
    return sorted({test for pipeline in pipelines for test in pipeline.tests})
