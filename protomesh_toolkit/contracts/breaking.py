"""`buf breaking` of a workspace against the contracts of a base commit.

The base is compared as a built image rather than buf's `.git#ref=` input: the
same image feeds the REST route guard, and it is built from exactly the
commit that base resolution found (after any fetch a shallow clone needed).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from protomesh_toolkit.codegen import build_descriptor_set, tool
from protomesh_toolkit.contracts.git_base import Base, export_contracts

# buf exits 100 for any file annotation: breaking changes, but also protos
# that do not compile. Callers must read the output, not only the code.
FOUND_PROBLEMS = 100


@dataclass(frozen=True)
class BufBreaking:
    command: tuple[str, ...]
    returncode: int
    output: str

    @property
    def passed(self) -> bool:
        return self.returncode == 0

    def problems(self) -> list[str]:
        if self.passed:
            return []
        lines = self.output.splitlines()
        if self.returncode != FOUND_PROBLEMS:
            lines.append(f"`{' '.join(self.command)}` exited with {self.returncode}")
        return lines


def buf_breaking(workspace: Path, against: Path) -> BufBreaking:
    # Run from the workspace with `.` so reported paths read `proto/shop/...`.
    command = (tool("buf"), "breaking", ".", "--against", str(against))
    done = subprocess.run(command, cwd=workspace, capture_output=True, text=True, check=False)
    return BufBreaking(command, done.returncode, (done.stdout + done.stderr).strip())


def base_image(repo: Path, base: Base, scratch: Path) -> Path:
    source = scratch / "base"
    export_contracts(repo, base, source)
    image = scratch / "base.binpb"
    build_descriptor_set(image, source)
    return image
