"""`python -m protomesh_toolkit.bench.cdc`: change capture beside the outbox relay, in one run.

On one fresh embedded PostgreSQL (wal_level=logical) and one nats-server:

  drain   committed changes → JetStream acks: the CDC worker reading the WAL
          (row changes/s), then the outbox relay draining as many outbox rows
  lag     one write path feeds both at a fixed rate (an order row and its
          OrderPlaced outbox row per transaction); commit → a JetStream
          consumer's receipt, p50/p99, for the CDC worker and the relay, each
          a process of its own as deployed

Every phase is bounded in count and time; everything runs on 127.0.0.1 and
is stopped by pid at the end. Figures are printed next to the aims, never asserted.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from protomesh import runner
from protomesh_toolkit.bench.write_stack import running_write_stack
from protomesh_toolkit.codegen import ensure_generated


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    ensure_generated()
    # Imports generated code (shop.*): only once gen/ is there and fresh.
    from protomesh_toolkit.bench.cdc_report import CdcOptions, measure_and_report

    settings = CdcOptions(**vars(options))
    with (
        tempfile.TemporaryDirectory(prefix="pm-bench-cdc-") as scratch,
        running_write_stack(Path(scratch)) as stack,
    ):
        runner.run(lambda: measure_and_report(stack, settings))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m protomesh_toolkit.bench.cdc")
    parser.add_argument("--changes", type=int, default=20_000, help="changes each path drains")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per drain, at most")
    parser.add_argument("--rate", type=float, default=500.0, help="changes/s for the lag")
    parser.add_argument("--lag-seconds", type=float, default=10.0)
    parser.add_argument(
        "--poll-interval", type=float, default=0.01, help="the worker's shortest idle poll"
    )
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
