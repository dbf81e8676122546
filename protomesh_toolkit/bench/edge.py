"""`python -m protomesh_toolkit.bench.edge`: GetUser direct, through the edge, and on FastAPI.

Three ways to read the same row, measured in one run against one PostgreSQL:

  (a) gRPC straight to the user service (shop.user.v1.UserService/GetUser);
  (b) REST `GET /v1/users/{id}` through Envoy, transcoded to that same call;
  (c) the same REST call on a minimal FastAPI + uvicorn app (the baseline).

Rounds interleave the targets so that drift on a shared machine hits all of
them alike; the figures are medians over the rounds. Ratios are printed
against the aims in the edge issue, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import urllib.request
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import grpc

from protomesh_toolkit.bench.load import Load, Measurement, Target, h2load_available, run_h2load
from protomesh_toolkit.bench.processes import cpu_seconds
from protomesh_toolkit.codegen import ensure_generated

if TYPE_CHECKING:
    from protomesh_toolkit.bench.stack import Stack

# Modules that import generated code (shop.*) are imported after `main` has
# made sure gen/ is there and fresh, so the benchmark runs from a fresh clone.

DIRECT, REST, BASELINE = "(a) gRPC direct", "(b) REST via Envoy", "(c) FastAPI + uvicorn"
# numerator, denominator, the aim
AIMS = ((REST, DIRECT, 0.8), (DIRECT, BASELINE, 1.0), (REST, BASELINE, 0.75))
TAIL_AIM = 2.0  # REST via Envoy: p99 at most twice its p50 (at 16 connections, the default)
Runner = Callable[[Target, Load], Measurement]


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    ensure_generated()
    from protomesh_toolkit.bench.stack import running_stack

    runner, tool = _runner(options.tool)
    load = Load(options.connections, options.seconds, options.warmup, options.max_requests)
    print(
        f"GetUser on one row: {options.connections} connections, {options.rounds} rounds of"
        f" {options.seconds:g} s after {options.warmup:g} s warm-up, load from {tool},"
        f" {options.workers} process(es) per server (server processes / uvicorn workers),"
        f" asyncpg pool of {options.pool_size} in each process,"
        f" access logs {'on' if options.access_log else 'off'}",
        flush=True,
    )
    with running_stack(
        pool_size=options.pool_size,
        access_log=options.access_log,
        envoy=not options.no_envoy,
        workers=options.workers,
    ) as stack:
        targets = _targets(stack)
        for target in targets:
            _check_answers(target, stack)
        results: dict[str, list[Measurement]] = {t.name: [] for t in targets}
        cpu: dict[str, list[float]] = {t.name: [] for t in targets}  # ms per request
        servers = {DIRECT: stack.user_pid, REST: stack.user_pid, BASELINE: stack.baseline_pid}
        for round_number in range(1, options.rounds + 1):
            for target in targets:
                before = cpu_seconds(servers[target.name])
                measured = runner(target, load)
                used = cpu_seconds(servers[target.name]) - before
                # The warm-up's requests are not counted: take its share of the CPU out.
                share = load.seconds / (load.seconds + load.warmup)
                cpu[target.name].append(used * share / max(measured.requests, 1) * 1000)
                results[target.name].append(measured)
                print(
                    f"  round {round_number}: {target.name:<22} {measurement_row(measured)}"
                    f"   CPU {cpu[target.name][-1]:.3f} ms/req",
                    flush=True,
                )
    _report(results, cpu)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m protomesh_toolkit.bench.edge", description=__doc__
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured time before it")
    parser.add_argument("--rounds", type=int, default=3, help="runs per target, interleaved")
    parser.add_argument("--connections", type=int, default=16, help="concurrent clients")
    parser.add_argument("--pool-size", type=int, default=8, help="asyncpg pool of each process")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes of each server: the user service's WORKERS, uvicorn's --workers",
    )
    parser.add_argument(
        "--max-requests", type=int, default=1_000_000, help="per-run bound (python load)"
    )
    parser.add_argument("--tool", choices=("auto", "h2load", "python"), default="auto")
    parser.add_argument(
        "--access-log", action="store_true", help="log every request in both servers"
    )
    parser.add_argument("--no-envoy", action="store_true", help="skip (b)")
    return parser


def _runner(choice: str) -> tuple[Runner, str]:
    if choice == "h2load" or (choice == "auto" and h2load_available()):
        return run_h2load, "h2load"
    from protomesh_toolkit.bench.pyload import run_python

    why = "" if choice == "python" else " (h2load not found: apt-get install nghttp2-client)"
    return run_python, f"the Python client{why}; it shares the CPU with the servers"


def _targets(stack: Stack) -> list[Target]:
    from shop.user.v1 import user_pb2

    request = user_pb2.GetUserRequest(user_id=stack.user_id).SerializeToString()
    path = f"/v1/users/{stack.user_id}"
    targets = [
        Target(DIRECT, f"http://{stack.grpc_address}/shop.user.v1.UserService/GetUser", request)
    ]
    if stack.rest_url is not None:
        targets.append(Target(REST, stack.rest_url + path))
    else:
        print(f"  {REST}: skipped", flush=True)
    targets.append(Target(BASELINE, stack.baseline_url + path))
    return targets


def _check_answers(target: Target, stack: Stack) -> None:
    """Load generators count statuses only (gRPC errors ride on HTTP 200): check one reply."""
    from shop.user.v1 import user_pb2, user_pb2_grpc

    if target.grpc_request is not None:
        with grpc.insecure_channel(stack.grpc_address) as channel:
            reply = user_pb2_grpc.UserServiceStub(channel).GetUser(
                user_pb2.GetUserRequest(user_id=stack.user_id), timeout=10
            )
        found = reply.user.user_id
    else:
        with urllib.request.urlopen(target.url, timeout=10) as response:
            found = json.load(response)["user"]["user_id"]
    if found != stack.user_id:
        raise RuntimeError(f"{target.name} answered with user {found!r}, not {stack.user_id}")


def measurement_row(measured: Measurement) -> str:
    if not measured.latencies:
        return f"no successful request ({measured.failures} failed)"
    failed = f"  ({measured.failures} failed)" if measured.failures else ""
    return (
        f"{measured.rate:8,.0f} req/s   p50 {measured.percentile(50) * 1000:6.2f} ms"
        f"   p99 {measured.percentile(99) * 1000:6.2f} ms{failed}"
    )


def _report(results: dict[str, list[Measurement]], cpu: dict[str, list[float]]) -> None:
    rates = print_medians(results)
    _report_tail(results.get(REST, []))
    # Steadier than req/s on a shared machine: what one request costs the Python
    # server behind each target (for REST that is the user service; Envoy's own
    # CPU is not in it).
    print("\nPython server CPU per request (median; REST: the user service, not Envoy):")
    per_request = {name: statistics.median(values) for name, values in cpu.items()}
    for name, used in per_request.items():
        print(f"  {name:<22} {used:.3f} ms")
    if per_request.get(DIRECT) and BASELINE in per_request:
        # The throughput ratio a CPU-bound server would reach, whatever else runs.
        ratio = per_request[BASELINE] / per_request[DIRECT]
        verdict = "meets" if ratio >= 1.0 else "below"
        print(
            f"  {BASELINE} CPU / {DIRECT} CPU: {ratio:5.2f}"
            f"   (aim >= 1.00 for {DIRECT} / {BASELINE}): {verdict}"
        )
    print("\nthroughput ratios (aims from the edge issue; reported, not asserted):")
    for top, bottom, aim in AIMS:
        if top in rates and bottom in rates and rates[bottom] > 0:
            ratio = rates[top] / rates[bottom]
            verdict = "meets" if ratio >= aim else "below"
            print(f"  {top} / {bottom}: {ratio:5.2f}   aim >= {aim:.2f}: {verdict}")


def _report_tail(runs: list[Measurement]) -> None:
    """The edge's tail against its median: queueing in Envoy or the service shows here first."""
    tails = [m.percentile(99) / m.percentile(50) for m in runs if m.latencies]
    if not tails:
        return
    ratio = statistics.median(tails)
    verdict = "meets" if ratio <= TAIL_AIM else "above"
    print(
        f"\n{REST} p99 / p50 (median over the rounds): {ratio:4.2f}"
        f"   aim <= {TAIL_AIM:.1f}: {verdict}"
    )


def print_medians(results: dict[str, list[Measurement]]) -> dict[str, float]:
    """A table of each target's medians over the rounds; returns the median rates."""
    rates = {name: statistics.median(m.rate for m in runs) for name, runs in results.items()}
    print("\nmedians over the rounds:")
    print(f"  {'':<22} {'req/s':>8}   {'p50 ms':>6}   {'p99 ms':>6}")
    for name, runs in results.items():
        answered = [m for m in runs if m.latencies]
        if not answered:
            print(f"  {name:<22} {0:8,}   no successful request")
            continue
        p50 = statistics.median(m.percentile(50) for m in answered) * 1000
        p99 = statistics.median(m.percentile(99) for m in answered) * 1000
        print(f"  {name:<22} {rates[name]:8,.0f}   {p50:6.2f}   {p99:6.2f}")
    return rates


if __name__ == "__main__":
    sys.exit(main())
