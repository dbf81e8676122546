"""`protomesh contract-check`: the working tree's contracts against a base commit.

Two checks, both required: `buf breaking` (FILE rules: fields, types, JSON
names, RPCs) and the REST route guard (google.api.http routes, which buf
ignores). Exit 0 when both pass or there is no base, 1 otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from protomesh.paths import ROOT
from protomesh_toolkit.codegen import build_descriptor_set
from protomesh_toolkit.contracts.breaking import base_image, buf_breaking
from protomesh_toolkit.contracts.git_base import BaseUnavailable, NoBase, resolve_base
from protomesh_toolkit.contracts.rest_routes import read_descriptor_set, route_violations


@dataclass(frozen=True)
class Finding:
    check: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Verdict:
    against: str
    findings: tuple[Finding, ...] = ()
    compared: bool = True

    @property
    def passed(self) -> bool:
        return all(not finding.problems for finding in self.findings)

    def report(self) -> str:
        if not self.compared:
            return f"contract check: no base to compare against ({self.against}); passing"
        lines = [f"contract check against {self.against}"]
        for finding in self.findings:
            lines.append(f"{finding.check}: {'FAILED' if finding.problems else 'ok'}")
            lines.extend(f"  {problem}" for problem in finding.problems)
        return "\n".join(lines)


def check_contracts(base_ref: str | None, workspace: Path = ROOT) -> Verdict:
    try:
        base = resolve_base(base_ref, workspace)
        with tempfile.TemporaryDirectory(prefix="protomesh-contracts-") as scratch_dir:
            scratch = Path(scratch_dir)
            against = base_image(workspace, base, scratch)
            breaking = buf_breaking(workspace, against)
            current = scratch / "current.binpb"
            build_descriptor_set(current, workspace)
            routes = route_violations(read_descriptor_set(against), read_descriptor_set(current))
    except NoBase as reason:
        return Verdict(str(reason), compared=False)
    except BaseUnavailable as error:
        return Verdict(base_ref or "the default base", (Finding("base", (str(error),)),))
    except subprocess.CalledProcessError as error:
        # buf has already printed why the build failed.
        failed = f"`{' '.join(map(str, error.cmd))}` exited with {error.returncode}"
        return Verdict(str(base), (Finding("build", (failed,)),))
    return Verdict(
        str(base),
        (
            Finding("buf breaking", tuple(breaking.problems())),
            Finding("REST routes", tuple(routes)),
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="protomesh contract-check", description=__doc__)
    parser.add_argument(
        "--base",
        metavar="REF",
        help="git revision to compare against (default: merge-base with main, or HEAD~1 on main)",
    )
    args = parser.parse_args(argv)
    verdict = check_contracts(args.base)
    print(verdict.report())
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
