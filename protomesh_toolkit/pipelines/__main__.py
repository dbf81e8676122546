"""`python -m protomesh_toolkit.pipelines`: render .github/workflows/ from the graph;
`... check` exits 1 and lists what drifted."""

from __future__ import annotations

import sys

from protomesh.paths import ROOT
from protomesh_toolkit.pipelines.plan import current_plan
from protomesh_toolkit.pipelines.workflows import drift, rendered


def main(argv: list[str]) -> int:
    expected = rendered(current_plan(ROOT))
    if argv[:1] == ["check"]:
        problems = drift(ROOT, expected)
        for problem in problems:
            print(problem)
        return 1 if problems else 0
    for path, text in expected.items():
        target = ROOT / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
