"""`python -m protomesh_toolkit.bench.dashboard`: GetDashboard with a cold cache and a warm one.

On real processes (user, order, two BFF replicas sharing a KV bucket), after
signing up `--customers` customers with `--orders` orders each:

  cold    each customer's first dashboard on replica 1: both tiers miss, the
          BFF calls user and order (and fills tier 1 and tier 2)
  tier 2  each customer's first dashboard on replica 2: its tier 1 is cold,
          the KV bucket replica 1 filled answers
  warm    dashboards of the same customers on replica 1 again: tier-1 hits

req/s and p50/p99 per phase, and warm against cold as a ratio. Every phase
is bounded in count and time; figures are printed, never asserted.
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
    from protomesh_toolkit.bench.dashboard_report import measure_and_report
    from protomesh_toolkit.bench.dashboard_stack import running_dashboard_stack

    with (
        tempfile.TemporaryDirectory(prefix="pm-bench-dashboard-") as scratch,
        running_write_stack(Path(scratch)) as stack,
        running_dashboard_stack(stack, options.cache_ttl) as services,
    ):
        runner.run(lambda: measure_and_report(services, options))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m protomesh_toolkit.bench.dashboard")
    parser.add_argument("--customers", type=int, default=300, help="customers (cold calls)")
    parser.add_argument("--orders", type=int, default=2, help="orders per customer")
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop callers")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per phase, at most")
    parser.add_argument(
        "--count", type=int, default=20_000, help="calls in the warm phase, at most"
    )
    parser.add_argument("--cache-ttl", type=float, default=120.0, help="the BFF's tier-1 TTL")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
