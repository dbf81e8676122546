"""The Dockerfile, checked without Docker: parsed by Docker's own parser (the `dockerfile` wheel).

No image can be built here, so what a build would find out late is checked
now: every file it copies exists and is not excluded by .dockerignore, the
base is pinned, the image runs as the non-root user compose and Kubernetes
expect, and every module compose starts is in the image.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import dockerfile
import pytest
import yaml

from protomesh.paths import ROOT
from protomesh_toolkit.topology import images
from protomesh_toolkit.topology.files import COMPOSE_FILE


@pytest.fixture(scope="module")
def instructions() -> list[Any]:
    return list(dockerfile.parse_file(str(ROOT / "Dockerfile")))


def stages(instructions: list[Any]) -> list[list[Any]]:
    found: list[list[Any]] = []
    for instruction in instructions:
        if instruction.cmd == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def context_sources(instructions: list[Any]) -> list[str]:
    """What COPY takes from the build context (not from another stage)."""
    return [
        source
        for i in instructions
        if i.cmd == "COPY" and not any(flag.startswith("--from") for flag in i.flags)
        for source in i.value[:-1]
    ]


def stage_named(instructions: list[Any], name: str) -> list[Any]:
    return next(s for s in stages(instructions) if s[0].value[-1] == name)


def test_a_pinned_slim_python_base_for_every_stage(instructions: list[Any]) -> None:
    argument = next(i.value[0] for i in instructions if i.cmd == "ARG")
    name, _, base = argument.partition("=")
    assert name == "PYTHON_IMAGE"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base
    assert {stage[0].value[0] for stage in stages(instructions)} == {"${PYTHON_IMAGE}"}


def test_every_image_compose_names_is_a_stage(instructions: list[Any]) -> None:
    named = {stage[0].value[-1] for stage in stages(instructions)}
    assert set(images.TARGETS.values()) <= named
    assert stages(instructions)[-1][0].value[-1] == "service", "a plain build gives the service"


def test_the_service_image_holds_the_runtime_without_the_tools(instructions: list[Any]) -> None:
    build, venv = stage_named(instructions, "build"), stage_named(instructions, "runtime-venv")
    assert any("protomesh_toolkit.codegen" in i.value[0] for i in build if i.cmd == "RUN")
    installs = [i.value[0] for i in venv if i.cmd == "RUN" and "pip install" in i.value[0]]
    assert installs
    assert all("[" not in command for command in installs), "no extras"
    copied = [i.value for i in stage_named(instructions, "service") if i.cmd == "COPY"]
    assert ("/opt/venv", "/opt/venv") in copied


def test_the_project_is_compiled_in_the_image_so_no_start_compiles_it(
    instructions: list[Any],
) -> None:
    """The images forbid writing bytecode at run time; without it here, every start compiles."""
    commands = [i.value[0] for i in stage_named(instructions, "build") if i.cmd == "RUN"]
    compiled = next(c for c in commands if "compileall" in c)
    folders = compiled.split("compileall", 1)[1].split()
    assert {"protomesh", "services", "gen"} <= set(folders)
    assert compiled.index("compileall") > compiled.index("protomesh_toolkit.codegen"), "gen/ first"


@pytest.mark.parametrize(("stage", "mounted"), [("service", 1), ("toolkit", 3)])
def test_the_final_images_run_as_the_app_user(
    instructions: list[Any], stage: str, mounted: int
) -> None:
    runtime = stage_named(instructions, stage)
    users = [i.value[0] for i in runtime if i.cmd == "USER"]
    assert users == [str(images.APP_UID)]
    setup = " ".join(i.value[0] for i in runtime if i.cmd == "RUN")
    assert f"--uid {images.APP_UID}" in setup
    folders = (images.CERTS_DIR, images.EDGE_DIR, images.ISSUER_DIR)[:mounted]
    for folder in folders:
        assert setup.count(folder) == 2, f"{folder} is made and given to the app user"


def test_everything_copied_exists_and_is_not_docker_ignored(instructions: list[Any]) -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for source in context_sources(instructions):
        assert (ROOT / source).exists(), source
        assert not [p for p in ignored if fnmatch.fnmatch(source, p)], source


def test_every_module_compose_runs_is_in_the_image(instructions: list[Any]) -> None:
    copied = {Path(source).parts[0] for source in context_sources(instructions)}
    document = yaml.safe_load((ROOT / COMPOSE_FILE).read_text())
    commands = [
        service["command"]
        for service in document["services"].values()
        if service.get("image") in images.TARGETS
    ]
    modules = [command[2] for command in commands if command[:2] == ["python", "-m"]]
    assert modules
    for module in modules:
        assert module.split(".")[0] in copied, module
    assert {command[0] for command in commands} <= {"python", "protomesh"}
