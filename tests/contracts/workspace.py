"""A scratch copy of the repo's contracts that a test can mutate and build."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from protomesh_toolkit.codegen import build_descriptor_set
from protomesh_toolkit.contracts.breaking import BufBreaking, buf_breaking
from protomesh_toolkit.contracts.git_base import CONTRACT_PATHS

USER_V1 = "proto/shop/user/v1/user.proto"


@dataclass(frozen=True)
class ProtoWorkspace:
    root: Path

    @classmethod
    def copy_of(cls, source: Path, root: Path) -> ProtoWorkspace:
        root.mkdir(parents=True)
        for name in CONTRACT_PATHS:
            if (source / name).is_dir():
                shutil.copytree(source / name, root / name)
            else:
                shutil.copy2(source / name, root / name)
        return cls(root)

    def replace(self, relative: str, old: str, new: str) -> None:
        """Edit a proto as a person would; the text must be there exactly once."""
        path = self.root / relative
        text = path.read_text()
        assert text.count(old) == 1, f"expected {old!r} once in {relative}"
        path.write_text(text.replace(old, new))

    def add(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def image(self, name: str) -> Path:
        target = self.root.parent / f"{name}.binpb"
        build_descriptor_set(target, self.root)
        return target

    def breaking(self, against: Path) -> BufBreaking:
        return buf_breaking(self.root, against)
