"""The import rules hold, and the contracts that state them catch a forbidden import.

The rules live in pyproject.toml ([tool.importlinter]): the runtime
(`protomesh`) imports nothing of the toolkit, the edge renderer or the
services; the edge renderer imports no service; no service imports another;
domain modules import only the standard library and `protomesh.errors`; the
runtime and the services import only what the service image installs; no
cycles between the subpackages of a package. Each mutation below adds one
forbidden import to a copy of the tree and expects `lint-imports` to name
the contract it breaks.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from protomesh.paths import ROOT
from protomesh_toolkit.codegen import tool

PACKAGES = ("protomesh", "protomesh_toolkit", "gateway", "services", "tests")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("lint-imports"), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_import_contract_is_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().split("contracts:")[-1].replace("0 broken", "")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sources and pyproject.toml, to break without touching the checkout."""
    root = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", root)
    return root


@pytest.mark.parametrize(
    ("module", "forbidden_import", "contract"),
    [
        (
            "protomesh/server.py",
            "import protomesh_toolkit.cluster.supervisor",
            "The runtime imports nothing of the toolkit",
        ),
        ("protomesh/channels.py", "import gateway.routes", "The runtime imports nothing"),
        ("protomesh/errors.py", "import services.user.domain", "The runtime imports nothing"),
        ("gateway/routes.py", "import services.order.domain", "The edge renderer imports neither"),
        (
            "services/order/handlers.py",
            "import services.user.store",
            "A service never imports another service",
        ),
        (
            "services/user/domain.py",
            "import grpc",
            "Domain modules import only the standard library",
        ),
        (
            "services/order/domain.py",
            "import protomesh.outbox",
            "Domain modules import only the standard library",
        ),
        (
            "protomesh/tls/server.py",
            "import cryptography",  # a toolkit wheel: the service image does not have it
            "The runtime and the services import only what the service image installs",
        ),
        (
            "services/user/bootstrap.py",
            "import jwt",
            "The runtime and the services import only what the service image installs",
        ),
        (
            "protomesh/bus/streams.py",  # the outbox imports the bus: now both ways
            "import protomesh.outbox.relay",
            "No import cycles between the subpackages",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tree: Path, module: str, forbidden_import: str, contract: str
) -> None:
    source = tree / module
    original = source.read_text()
    source.write_text(f"{original}\n{forbidden_import}  # noqa\n")
    try:
        result = lint_imports(tree)
    finally:
        source.write_text(original)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts")[-1]
    assert contract in broken, result.stdout
