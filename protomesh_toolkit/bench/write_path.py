"""`python -m protomesh_toolkit.bench.write_path`: the write path's throughput and the outbox's lag.

Measured in one run, on one fresh embedded PostgreSQL and one nats-server:

  baselines   raw asyncpg INSERT rate; `await js.publish` one message at a time
  relay       committed rows → messages acknowledged by JetStream (events/s)
  PlaceOrder  over gRPC on the real order and user services (processes),
              the order service's relay publishing in-process
  place order the same transaction (order row + OrderPlaced in the outbox,
              commit, NOTIFY) through an asyncpg pool, without gRPC, with a
              stand-alone relay publishing alongside
  lag         commit → a JetStream consumer's receipt, p50/p99, at a fixed rate

Every phase is bounded in count and time; everything runs on 127.0.0.1 and
is stopped by pid at the end. Figures are printed next to the issue's aims,
never asserted.
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
    from protomesh_toolkit.bench.write_report import Options, measure_and_report

    settings = Options(**vars(options))
    with (
        tempfile.TemporaryDirectory(prefix="pm-bench-write-") as scratch,
        running_write_stack(Path(scratch)) as stack,
    ):
        runner.run(lambda: measure_and_report(stack, settings))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m protomesh_toolkit.bench.write_path")
    parser.add_argument("--count", type=int, default=20_000, help="operations per phase, at most")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per phase, at most")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop writers")
    parser.add_argument("--pool-size", type=int, default=8)
    parser.add_argument("--drain-events", type=int, default=20_000, help="rows the relay drains")
    parser.add_argument("--batch-size", type=int, default=500, help="the relay's batch")
    parser.add_argument("--max-in-flight", type=int, default=256, help="the relay's pending acks")
    parser.add_argument("--rate", type=float, default=500.0, help="events/s for the lag")
    parser.add_argument("--lag-seconds", type=float, default=10.0)
    parser.add_argument(
        "--no-services", action="store_true", help="skip PlaceOrder over the real order service"
    )
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
