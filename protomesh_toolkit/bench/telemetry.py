"""`python -m protomesh_toolkit.bench.telemetry`: what tracing and metrics cost on GetUser.

The same user service three times over one PostgreSQL, measured in one run
with rounds interleaved (drift on a shared machine hits every mode alike):

  off         no OTLP endpoint, no metrics port: the runtime as it was;
  on, 100%    spans for every call (server + SQL) exported to a local OTLP
              receiver, RED metrics on a /metrics port;
  on, 10%     the same with 10% of new traces sampled.

Calls come straight over gRPC without a traceparent, so each service's own
sampler decides. Two costs are printed: throughput against off (the issue's
aim: <= 15% at 10%), and the service's CPU time per request, read from
/proc around each run. On a machine shared with other work the CPU figure
is the steadier one: throughput moves with whatever else runs, the CPU a
request takes much less. Neither is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from protomesh_toolkit.bench.edge import _runner, measurement_row
from protomesh_toolkit.bench.load import Load, Measurement, Target
from protomesh_toolkit.codegen import ensure_generated

OFF, FULL, TENTH = "off", "on, 100% sampled", "on, 10% sampled"
TRACING = {"OTLP_ENDPOINT": "{receiver}", "METRICS_PORT": "0"}
MODES = {
    OFF: {},
    FULL: {**TRACING, "TRACE_SAMPLE_RATE": "1.0"},
    TENTH: {**TRACING, "TRACE_SAMPLE_RATE": "0.1"},
}
AIMS = {FULL: None, TENTH: 0.15}  # the aim for the cost at 10%


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    ensure_generated()
    from shop.user.v1 import user_pb2

    from protomesh_toolkit.bench.processes import cpu_seconds
    from protomesh_toolkit.bench.span_interceptors import compare
    from protomesh_toolkit.bench.telemetry_stack import running_services

    print("The server span interceptor alone, in process (no network, no handler):")
    print(compare(options.interceptor_calls), flush=True)
    runner, tool = _runner(options.tool)
    load = Load(options.connections, options.seconds, options.warmup, options.max_requests)
    print(
        f"GetUser, telemetry off vs on: {options.connections} connections, {options.rounds}"
        f" rounds of {options.seconds:g} s after {options.warmup:g} s warm-up, load from {tool}",
        flush=True,
    )
    results: dict[str, list[Measurement]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}  # ms per request
    with running_services(MODES, options.pool_size) as services:
        request = user_pb2.GetUserRequest(user_id=services.user_id).SerializeToString()
        targets = {
            mode: Target(mode, f"http://{address}/shop.user.v1.UserService/GetUser", request)
            for mode, address in services.addresses.items()
        }
        for round_number in range(1, options.rounds + 1):
            # Each round starts with another mode, so none always follows the busiest one.
            shift = (round_number - 1) % len(targets)
            order = [*list(targets)[shift:], *list(targets)[:shift]]
            for mode in order:
                target = targets[mode]
                settle(services.spans_file)
                before = cpu_seconds(services.pids[mode])
                measured = runner(target, load)
                used = cpu_seconds(services.pids[mode]) - before
                results[mode].append(measured)
                # The warm-up's requests are not counted, so take its share of the CPU out.
                measured_share = load.seconds / (load.seconds + load.warmup)
                cpu[mode].append(used * measured_share / max(measured.requests, 1) * 1000)
                print(
                    f"  round {round_number}: {mode:<18} {measurement_row(measured)}"
                    f"   CPU {cpu[mode][-1]:.3f} ms/request",
                    flush=True,
                )
        spans = sum(1 for _ in services.spans_file.open()) if services.spans_file.exists() else 0
    print(f"\nspans the receiver stored: {spans:,}")
    _report(results, cpu)
    return 0


def settle(spans_file: Path, quiet: float = 0.5, limit: float = 15.0) -> None:
    """Wait until the previous run's spans have all been exported and stored.

    A service keeps exporting its queued spans, and the receiver writing them,
    after its run ends; measured meanwhile, the next mode would pay for them.
    """
    deadline = time.monotonic() + limit
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = spans_file.stat().st_size if spans_file.exists() else 0
        if now != size:
            size, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m protomesh_toolkit.bench.telemetry", description=__doc__
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured time before it")
    parser.add_argument("--rounds", type=int, default=3, help="runs per mode, interleaved")
    parser.add_argument("--connections", type=int, default=16, help="concurrent clients")
    parser.add_argument("--pool-size", type=int, default=8, help="asyncpg pool of each service")
    parser.add_argument(
        "--max-requests", type=int, default=1_000_000, help="per-run bound (python load)"
    )
    parser.add_argument("--tool", choices=("auto", "h2load", "python"), default="auto")
    parser.add_argument(
        "--interceptor-calls", type=int, default=20_000, help="calls per interceptor in process"
    )
    return parser


def _report(results: dict[str, list[Measurement]], cpu: dict[str, list[float]]) -> None:
    rates = {mode: statistics.median(m.rate for m in runs) for mode, runs in results.items()}
    per_request = {mode: statistics.median(values) for mode, values in cpu.items()}
    print("medians over the rounds:")
    for mode, runs in results.items():
        answered = [m for m in runs if m.latencies]
        p50 = statistics.median(m.percentile(50) for m in answered) * 1000 if answered else 0
        print(
            f"  {mode:<18} {rates[mode]:8,.0f} req/s   p50 {p50:6.2f} ms"
            f"   CPU {per_request[mode]:.3f} ms/request"
        )
    if rates[OFF] <= 0 or per_request[OFF] <= 0:
        return
    print("\ncost against off (aim from the issue; reported, not asserted):")
    for mode, aim in AIMS.items():
        lost = 1 - rates[mode] / rates[OFF]
        extra_cpu = per_request[mode] / per_request[OFF] - 1
        verdict = (
            "" if aim is None else f"   aim <= {aim:.0%}: " + ("meets" if lost <= aim else "above")
        )
        print(
            f"  {mode:<18} throughput {lost:6.1%} lower, CPU per request {extra_cpu:+6.1%}{verdict}"
        )


if __name__ == "__main__":
    sys.exit(main())
