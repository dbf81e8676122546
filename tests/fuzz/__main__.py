"""`make fuzz N=10000`: both fuzzers with N cases each, against a stack of their own.

    python -m tests.fuzz --cases 10000 [pytest options, e.g. -k grpc]

It runs the suite's fuzz tests (tests/fuzz) with PROTOMESH_FUZZ_CASES set,
so the long run and the suite's bounded slice are the same code; the counts
per status and every distinct finding are printed at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.fuzz.budget import CASES_VARIABLE

HERE = Path(__file__).parent
SECONDS_PER_CASE = 0.5  # a generous ceiling for one case: the run's pytest timeout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--cases", type=int, default=2000, help="cases per fuzzer")
    options, pytest_args = parser.parse_known_args(argv)
    if options.cases < 1:
        parser.error("--cases must be at least 1")
    timeout = max(300, int(options.cases * SECONDS_PER_CASE))
    started = time.monotonic()
    # A pytest of its own: this process has imported hypothesis already, which
    # pytest would warn about (and the suite's settings make warnings errors).
    command = [sys.executable, "-m", "pytest", str(HERE), "-m", "fuzz", "-q"]
    command += ["-p", "no:cacheprovider", f"--timeout={timeout}", *pytest_args]
    environment = {**os.environ, CASES_VARIABLE: str(options.cases)}
    code = subprocess.run(command, env=environment, check=False).returncode
    print(f"fuzz: {options.cases} cases per fuzzer in {time.monotonic() - started:.0f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
