"""The repository's dependency graph, as files: what a module, a test or a proto needs.

Python imports come from grimp (the library under import-linter), which parses the
sources without importing them; generated modules (`shop.user.v1.user_pb2`, in gen/)
stand for the .proto they are generated from, and a .proto brings the protos it imports.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import grimp

# Our packages, the tests and the generated contracts (gen/ is on the path).
PACKAGES = ("protomesh", "protomesh_toolkit", "gateway", "services", "tests", "shop")
GENERATED = "shop"
_PROTO_IMPORT = re.compile(r'^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;', re.MULTILINE)
_GENERATED_SUFFIXES = ("_pb2_grpc", "_pb2")


def under(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


@dataclass
class RepoGraph:
    root: Path
    imports: Any  # grimp's ImportGraph (untyped)

    @classmethod
    def build(cls, root: Path) -> RepoGraph:
        # grimp finds packages on sys.path; `tests` and gen/ are there only under pytest,
        # so put the checkout's own first (for `protomesh affected` too), then restore.
        saved = list(sys.path)
        sys.path[:0] = [str(root), str(root / "gen")]
        try:
            return cls(root, grimp.build_graph(*PACKAGES, cache_dir=None))
        finally:
            sys.path[:] = saved

    @cached_property
    def tracked(self) -> tuple[str, ...]:
        """Every file git knows, relative to the root: the universe the path filters cover."""
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=True,
        )
        return tuple(sorted(line for line in listed.stdout.splitlines() if line))

    def modules(self, package: str) -> set[str]:
        return {m for m in self.imports.modules if under(m, package)}

    def closure(self, modules: Iterable[str]) -> set[str]:
        """The modules and everything they import, directly or not."""
        found: set[str] = set()
        for module in modules:
            found.add(module)
            found |= set(self.imports.find_upstream_modules(module))
        return found

    def test_modules(self) -> set[str]:
        return {m for m in self.modules("tests") if m.rsplit(".", 1)[-1].startswith("test_")}

    def file_of(self, module: str) -> str | None:
        """The file a module comes from: its .py, or for a generated module its .proto."""
        parts = module.split(".")
        if parts[0] == GENERATED:
            name = parts[-1]
            for suffix in _GENERATED_SUFFIXES:
                if name.endswith(suffix):
                    return "/".join(["proto", *parts[:-1], name[: -len(suffix)] + ".proto"])
            return None
        for candidate in ("/".join(parts) + ".py", "/".join([*parts, "__init__.py"])):
            if (self.root / candidate).is_file():
                return candidate
        return None

    def proto_closure(self, protos: Iterable[str]) -> set[str]:
        """The .proto files and those they import (ours under proto/, vendored in third_party/)."""
        found: set[str] = set()
        pending = list(protos)
        while pending:
            proto = pending.pop()
            if proto in found or not (self.root / proto).is_file():
                continue
            found.add(proto)
            for imported in _PROTO_IMPORT.findall((self.root / proto).read_text()):
                pending += [f"{base}/{imported}" for base in ("proto", "third_party")]
        return found

    def conftests_of(self, test_file: str) -> set[str]:
        """The conftest.py files pytest loads for a test module (its folder and the ones above)."""
        found = set()
        folder = Path(test_file).parent
        while folder != Path():
            candidate = folder / "conftest.py"
            if (self.root / candidate).is_file():
                found.add(candidate.as_posix())
            folder = folder.parent
        return found
