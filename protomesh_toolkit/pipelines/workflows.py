"""`.github/workflows/<pipeline>.yml`, rendered from the plan, so the path filters are the
graph's and never typed by hand (a test fails when the committed files drift).

Every pipeline: lint and type checks, its tests, `buf breaking` against the merge-base
(`protomesh contract-check`), the consumer contracts in which it is the provider, and a
container image (BuildKit cache in GitHub's cache, pushed only from main, tagged by
commit).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from protomesh_toolkit.pipelines.plan import CONTRACTS, RUNTIME, Pipeline

HEADER = (
    "# Rendered by `python -m protomesh_toolkit.pipelines` from the dependency graph;"
    " do not edit.\n"
)
PYTHON = "3.11"
ON_MAIN = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
# What each pipeline lints: its own code and tests, not its neighbours'.
LINTED = {
    RUNTIME: "protomesh protomesh_toolkit gateway tests",
    CONTRACTS: "protomesh_toolkit/contracts tests/contracts",
}
IMAGE_TARGETS = {RUNTIME: ("service", "toolkit"), CONTRACTS: ("toolkit",)}


def _checks(pipeline: Pipeline) -> list[dict[str, Any]]:
    linted = LINTED.get(pipeline.name, f"services/{pipeline.name} tests")
    provider_check = {
        "contracts": "protomesh consumer-check",
        "service": f"protomesh consumer-check --provider {pipeline.name}",
    }.get(pipeline.kind)
    steps: list[dict[str, Any]] = [
        {"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}},
        {
            "uses": "actions/setup-python@v5",
            "with": {"python-version": PYTHON, "cache": "pip"},
        },
        {"name": "Install and generate", "run": "make venv gen"},
        {
            "name": "Lint and type checks",
            "run": f".venv/bin/ruff check {linted}\n"
            f".venv/bin/ruff format --check {linted}\n"
            ".venv/bin/mypy\n"
            ".venv/bin/lint-imports",
        },
        {
            "name": "buf breaking against the merge-base",
            "run": ".venv/bin/buf lint\n.venv/bin/protomesh contract-check",
        },
    ]
    if provider_check is not None:
        steps.append(
            {
                "name": "Consumer contracts in which it is the provider (static)",
                "run": f".venv/bin/{provider_check}",
            }
        )
    steps.append(
        {
            "name": "Tests (provider verification against the running service included)",
            "run": f'.venv/bin/pytest --basetemp="$RUNNER_TEMP/pytest" '
            f"$(.venv/bin/protomesh affected --tests-of {pipeline.name})",
        }
    )
    return steps


def _image(pipeline: Pipeline) -> dict[str, Any]:
    targets = IMAGE_TARGETS.get(pipeline.name, ("service",))
    name = pipeline.name if pipeline.kind == "service" else "${{ matrix.target }}"
    return {
        "needs": "checks",
        "runs-on": "ubuntu-latest",
        "permissions": {"contents": "read", "packages": "write"},
        "strategy": {"matrix": {"target": list(targets)}},
        "steps": [
            {"uses": "actions/checkout@v4"},
            {"uses": "docker/setup-buildx-action@v3"},
            {
                "if": ON_MAIN,
                "uses": "docker/login-action@v3",
                "with": {
                    "registry": "ghcr.io",
                    "username": "${{ github.actor }}",
                    "password": "${{ secrets.GITHUB_TOKEN }}",
                },
            },
            {
                "uses": "docker/build-push-action@v6",
                "with": {
                    "context": ".",
                    "target": "${{ matrix.target }}",
                    "push": f"${{{{ {ON_MAIN} }}}}",
                    "tags": f"ghcr.io/${{{{ github.repository_owner }}}}/protomesh-{name}:"
                    "${{ github.sha }}",
                    "cache-from": f"type=gha,scope={pipeline.name}-${{{{ matrix.target }}}}",
                    "cache-to": f"type=gha,mode=max,scope={pipeline.name}-${{{{ matrix.target }}}}",
                },
            },
        ],
    }


def render(pipeline: Pipeline) -> dict[str, Any]:
    trigger = {"paths": list(pipeline.paths)}
    return {
        "name": pipeline.name,
        "on": {"push": {"branches": ["main"], **trigger}, "pull_request": trigger},
        "permissions": {"contents": "read"},
        "concurrency": {
            "group": f"{pipeline.name}-${{{{ github.ref }}}}",
            "cancel-in-progress": True,
        },
        "jobs": {
            "checks": {
                "runs-on": "ubuntu-latest",
                "timeout-minutes": 60,
                "steps": _checks(pipeline),
            },
            "image": _image(pipeline),
        },
    }


class _PlainDumper(yaml.SafeDumper):
    """No &anchors, and multi-line scripts as `|` blocks, as a person would write them."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _string(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_PlainDumper.add_representer(str, _string)


def text_of(pipeline: Pipeline) -> str:
    return HEADER + yaml.dump(render(pipeline), Dumper=_PlainDumper, sort_keys=False, width=100)


def rendered(pipelines: tuple[Pipeline, ...]) -> dict[Path, str]:
    return {Path(pipeline.workflow): text_of(pipeline) for pipeline in pipelines}


def drift(root: Path, expected: dict[Path, str]) -> list[str]:
    problems = [
        f"{path}: {'missing' if not (root / path).exists() else 'differs from the graph'}"
        for path, text in expected.items()
        if not (root / path).exists() or (root / path).read_text() != text
    ]
    folder = root / ".github" / "workflows"
    committed = {p.relative_to(root) for p in folder.glob("*.yml")} if folder.is_dir() else set()
    problems += [
        f"{path}: not rendered from the graph" for path in sorted(committed - set(expected))
    ]
    return problems
