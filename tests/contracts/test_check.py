"""`protomesh contract-check` end to end, on throwaway repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from protomesh.paths import ROOT
from protomesh_toolkit.contracts.check import Finding, check_contracts, main
from tests.contracts.git_repo import GitRepo
from tests.contracts.workspace import USER_V1, ProtoWorkspace

pytestmark = pytest.mark.integration

GET_USER_PATH = 'get: "/v1/users/{user_id}"'
DISPLAY_NAME = "  // Name shown to other people.\n  string display_name = 3;\n"


@pytest.fixture
def published(tmp_path: Path) -> tuple[ProtoWorkspace, GitRepo]:
    """A repository whose only commit holds today's contracts."""
    workspace = ProtoWorkspace.copy_of(ROOT, tmp_path / "repo")
    repo = GitRepo.init(workspace.root)
    repo.commit("publish the contracts")
    return workspace, repo


def test_both_checks_report_what_broke(published: tuple[ProtoWorkspace, GitRepo]) -> None:
    workspace, repo = published
    workspace.replace(USER_V1, GET_USER_PATH, GET_USER_PATH.replace("users", "people"))
    workspace.replace(USER_V1, DISPLAY_NAME, "  reserved 3;\n")
    repo.commit("break the contracts")
    verdict = check_contracts(None, repo.path)
    assert not verdict.passed
    buf, routes = verdict.findings
    assert buf.check == "buf breaking"
    assert any('name "display_name" on message "User" was deleted' in line for line in buf.problems)
    assert routes == Finding(
        "REST routes",
        (
            "shop.user.v1.UserService.GetUser: route GET /v1/users/{user_id} was removed"
            " (now GET /v1/people/{user_id})",
        ),
    )
    assert "REST routes: FAILED" in verdict.report()


def test_uncommitted_changes_are_checked_too(published: tuple[ProtoWorkspace, GitRepo]) -> None:
    workspace, repo = published
    repo.commit("an unrelated change", {"README.md": "hello\n"})
    workspace.replace(USER_V1, GET_USER_PATH, GET_USER_PATH.replace("users", "people"))
    verdict = check_contracts(None, repo.path)
    assert [finding.check for finding in verdict.findings if finding.problems] == ["REST routes"]


def test_an_additive_change_passes(published: tuple[ProtoWorkspace, GitRepo]) -> None:
    workspace, repo = published
    workspace.replace(
        USER_V1, DISPLAY_NAME, DISPLAY_NAME + "  // Nickname.\n  optional string nickname = 6;\n"
    )
    repo.commit("add a field")
    verdict = check_contracts(None, repo.path)
    assert verdict.passed, verdict.report()
    assert verdict.against.startswith("HEAD~1 (")


def test_the_first_commit_passes_with_nothing_to_compare(
    published: tuple[ProtoWorkspace, GitRepo],
) -> None:
    _, repo = published
    verdict = check_contracts(None, repo.path)
    assert (verdict.compared, verdict.passed) == (False, True)
    assert verdict.report().startswith("contract check: no base to compare against (HEAD (")


def test_a_base_that_does_not_build_fails(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "repo")
    repo.commit("broken", {"buf.yaml": "version: v2\n", "proto/a.proto": "not a proto\n"})
    repo.commit("later")
    verdict = check_contracts(None, repo.path)
    assert not verdict.passed
    assert verdict.findings[0].check == "build"


def test_main_compares_the_checkout_with_an_explicit_base(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["--base", "HEAD"])
    report = capsys.readouterr().out
    assert code == 0, report
    assert report.startswith("contract check against --base HEAD ("), report
