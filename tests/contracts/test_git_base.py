"""Base resolution on real repositories: plain, branched, shallow and empty."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from protomesh_toolkit.contracts.git_base import (
    Base,
    BaseUnavailable,
    NoBase,
    export_contracts,
    resolve_base,
)
from tests.contracts.git_repo import GitRepo


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo.init(tmp_path / "repo")


def test_a_directory_outside_git_has_no_base(tmp_path: Path) -> None:
    with pytest.raises(NoBase, match="not a git checkout"):
        resolve_base(None, tmp_path)


def test_a_repository_without_commits_has_no_base(repo: GitRepo) -> None:
    with pytest.raises(NoBase, match="no commits yet"):
        resolve_base(None, repo.path)


def test_the_root_commit_has_no_base(repo: GitRepo) -> None:
    root = repo.commit("root")
    with pytest.raises(NoBase, match=re.escape(f"HEAD ({root[:12]}) is the root commit")):
        resolve_base(None, repo.path)


def test_on_main_the_base_is_the_previous_commit(repo: GitRepo) -> None:
    previous = repo.commit("one")
    repo.commit("two")
    assert resolve_base(None, repo.path) == Base(previous, "HEAD~1")


def test_on_a_branch_the_base_is_where_it_left_main(repo: GitRepo) -> None:
    fork = repo.commit("one")
    repo.git("switch", "--quiet", "--create", "feature")
    repo.commit("feature one")
    repo.commit("feature two")
    repo.git("switch", "--quiet", "main")
    repo.commit("main moved on")
    repo.git("switch", "--quiet", "feature")
    assert resolve_base(None, repo.path) == Base(fork, "merge-base of HEAD and main")


def test_an_explicit_base_wins(repo: GitRepo) -> None:
    first = repo.commit("one")
    repo.git("tag", "v1.0.0")
    repo.commit("two")
    repo.commit("three")
    assert resolve_base("v1.0.0", repo.path) == Base(first, "--base v1.0.0")


def test_an_unknown_explicit_base_fails_loudly(repo: GitRepo) -> None:
    repo.commit("one")
    with pytest.raises(BaseUnavailable, match="--base nope: no such commit"):
        resolve_base("nope", repo.path)


def test_a_shallow_clone_fetches_the_previous_commit(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("one")
    previous = repo.commit("two")
    repo.commit("three")
    clone = GitRepo.shallow_clone(repo, tmp_path / "clone")
    assert clone.is_shallow()
    assert resolve_base(None, clone.path) == Base(previous, "HEAD~1")


def test_a_shallow_branch_clone_fetches_down_to_the_merge_base(
    repo: GitRepo, tmp_path: Path
) -> None:
    fork = repo.commit("one")
    repo.git("switch", "--quiet", "--create", "feature")
    for n in range(3):
        repo.commit(f"feature {n}")
    clone = GitRepo.shallow_clone(repo, tmp_path / "clone", "--no-single-branch")
    clone.git("switch", "--quiet", "feature")
    assert clone.is_shallow()
    assert resolve_base(None, clone.path) == Base(fork, "merge-base of HEAD and origin/main")


def test_a_shallow_clone_whose_origin_is_gone_fails_loudly(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("one")
    repo.commit("two")
    clone = GitRepo.shallow_clone(repo, tmp_path / "clone")
    shutil.rmtree(repo.path)
    with pytest.raises(BaseUnavailable, match="git fetch --deepen"):
        resolve_base(None, clone.path)


def test_a_base_from_before_the_contracts_has_none(repo: GitRepo, tmp_path: Path) -> None:
    before = Base(repo.commit("readme", {"README.md": "hello\n"}), "HEAD~1")
    with pytest.raises(NoBase, match=r"no buf\.yaml and proto/ yet"):
        export_contracts(repo.path, before, tmp_path / "out")


def test_only_the_contracts_are_exported(repo: GitRepo, tmp_path: Path) -> None:
    contracts = {
        "buf.yaml": "version: v2\n",
        "proto/shop/a.proto": 'syntax = "proto3";\n',
        "third_party/google/api/http.proto": 'syntax = "proto3";\n',
        "services/app.py": "",
    }
    base = Base(repo.commit("contracts", contracts), "HEAD~1")
    repo.commit("later", {"proto/shop/a.proto": "changed\n"})
    export_contracts(repo.path, base, tmp_path / "out")
    exported = {
        str(path.relative_to(tmp_path / "out")): path.read_text()
        for path in (tmp_path / "out").rglob("*")
        if path.is_file()
    }
    assert exported == {name: text for name, text in contracts.items() if name != "services/app.py"}
