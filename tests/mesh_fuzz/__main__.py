"""`python -m tests.mesh_fuzz --cases N [--seed S]`: fuzz a mesh of its own; 1 on a finding."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from tests.mesh_fuzz.runner import Fuzzer
from tests.mesh_fuzz.stack import running_stack


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mesh_fuzz", description=__doc__)
    parser.add_argument("--cases", type=int, default=2000, help="how many bad requests")
    parser.add_argument("--seed", type=int, help="repeat a run (default: a random seed)")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="stop sooner")
    arguments = parser.parse_args()
    seed = arguments.seed if arguments.seed is not None else random.SystemRandom().randrange(2**31)
    print(f"fuzzing with {arguments.cases} cases, seed {seed}", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="protomesh-fuzz-") as directory,
        running_stack(Path(directory)) as stack,
    ):
        fuzzer = Fuzzer(stack.edge, stack.services, stack.customer)
        try:
            report = fuzzer.run(arguments.cases, seed, arguments.max_seconds)
        finally:
            fuzzer.close()
    print(report.summary())
    print(f"seed {seed}: rerun with `make fuzz N={arguments.cases} SEED={seed}`")
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
