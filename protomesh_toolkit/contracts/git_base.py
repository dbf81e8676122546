"""Which commit the contracts are compared against, and its contracts on disk.

The base is `--base REF` when given; on a branch other than main it is where
the branch left main (so the whole branch is checked, not its last commit);
otherwise it is HEAD~1. CI clones are often shallow, so a base that is missing
locally is fetched from origin before concluding anything: only a real root
commit, or a base from before the contracts existed, means "nothing to compare".
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# What `buf build` needs to rebuild the contracts of another commit.
CONTRACT_PATHS = ("buf.yaml", "proto", "third_party")
REQUIRED_PATHS = frozenset({"buf.yaml", "proto"})
MAIN_REFS = ("origin/main", "main")
# Most bases are a few commits back; one cheap deepening usually finds them
# before falling back to fetching the whole history.
DEEPEN_BY = 50


class NoBase(Exception):
    """There is honestly nothing to compare against: the contracts pass by definition."""


class BaseUnavailable(Exception):
    """A base should exist but cannot be read; passing silently would hide breaks."""


@dataclass(frozen=True)
class Base:
    commit: str
    chosen_as: str

    def __str__(self) -> str:
        return f"{self.chosen_as} ({self.commit[:12]})"


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)


def _commit(repo: Path, revision: str) -> str | None:
    found = _git(
        repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"
    )
    return found.stdout.strip() if found.returncode == 0 else None


def _merge_base(repo: Path, other: str) -> str | None:
    found = _git(repo, "merge-base", "HEAD", other)
    return found.stdout.strip() if found.returncode == 0 else None


def _is_shallow(repo: Path) -> bool:
    return _git(repo, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"


def _with_history(repo: Path, find: Callable[[], str | None]) -> str | None:
    """`find()`, deepening a shallow clone from origin until it succeeds or history is complete."""
    found = find()
    for fetch in (("--deepen", str(DEEPEN_BY)), ("--unshallow",)):
        if found is not None or not _is_shallow(repo):
            break
        fetched = _git(repo, "fetch", "--quiet", "--no-tags", *fetch, "origin")
        if fetched.returncode != 0:
            raise BaseUnavailable(
                f"the base is not in this shallow clone and `git fetch {' '.join(fetch)} origin`"
                f" failed: {fetched.stderr.strip()}"
            )
        found = find()
    return found


def resolve_base(explicit: str | None, repo: Path) -> Base:
    if _git(repo, "rev-parse", "--git-dir").returncode != 0:
        raise NoBase(f"{repo} is not a git checkout")
    head = _commit(repo, "HEAD")
    if head is None:
        raise NoBase("the repository has no commits yet")
    if explicit is not None:
        commit = _with_history(repo, lambda: _commit(repo, explicit))
        if commit is None:
            raise BaseUnavailable(f"--base {explicit}: no such commit in this repository")
        return Base(commit, f"--base {explicit}")
    branch = _git(repo, "symbolic-ref", "--quiet", "--short", "HEAD").stdout.strip()
    main = next((ref for ref in MAIN_REFS if _commit(repo, ref) is not None), None)
    if branch != "main" and main is not None:
        commit = _with_history(repo, lambda: _merge_base(repo, main))
        if commit is None:
            raise BaseUnavailable(f"HEAD and {main} have no commit in common")
        return Base(commit, f"merge-base of HEAD and {main}")
    previous = _with_history(repo, lambda: _commit(repo, "HEAD~1"))
    if previous is None:
        raise NoBase(f"HEAD ({head[:12]}) is the root commit")
    return Base(previous, "HEAD~1")


def export_contracts(repo: Path, base: Base, into: Path) -> None:
    """Only the contract files: buf rebuilds the base on its own, whatever else that commit had."""
    listed = _git(repo, "ls-tree", "--name-only", base.commit, "--", *CONTRACT_PATHS)
    present = sorted(listed.stdout.split())
    if not set(present) >= REQUIRED_PATHS:
        raise NoBase(f"{base} has no buf.yaml and proto/ yet: no contract was published")
    archive = subprocess.run(
        ["git", "archive", "--format=tar", base.commit, "--", *present],
        cwd=repo,
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise BaseUnavailable(f"git archive of {base} failed: {archive.stderr.decode().strip()}")
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
