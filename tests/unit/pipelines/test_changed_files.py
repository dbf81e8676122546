"""The files a change holds: committed since the base, uncommitted and untracked alike."""

from __future__ import annotations

from pathlib import Path

from protomesh_toolkit.contracts.git_base import resolve_base
from protomesh_toolkit.pipelines.affected import affected, changed_files, files_to_test
from protomesh_toolkit.pipelines.plan import Pipeline
from tests.contracts.git_repo import GitRepo


def test_committed_uncommitted_and_untracked_changes_all_count(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "repo")
    repo.commit("base", {"services/order/a.py": "", "docs/x.md": "", "proto/p.proto": ""})
    repo.commit("on top", {"services/order/a.py": "changed\n"})
    (repo.path / "docs" / "x.md").write_text("edited, not committed\n")
    (repo.path / "proto" / "new.proto").write_text("")
    files = changed_files(repo.path, resolve_base(None, repo.path))
    assert files == ["docs/x.md", "proto/new.proto", "services/order/a.py"]


def test_a_pipeline_is_touched_when_one_changed_file_matches_its_paths() -> None:
    order = Pipeline("order", "service", ("services/order/**",), ("tests/unit/order/t.py",))
    user = Pipeline("user", "service", ("services/user/**", "proto/**"), ("tests/unit/user/t.py",))
    touched = affected([order, user], ["proto/shop/user/v1/user.proto", "README.md"])
    assert touched == [user]
    assert files_to_test(touched) == ["tests/unit/user/t.py"]
    assert affected([order, user], ["docs/patterns.md"]) == []
