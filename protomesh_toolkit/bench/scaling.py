"""`python -m protomesh_toolkit.bench.scaling`: GetUser against processes and connections.

One table from one run: req/s and p99 for gRPC straight to the user service,
REST through Envoy, and the FastAPI baseline, with 1 and 2 processes per
server (the user service's server processes sharing its port; uvicorn's
workers) at 1, 16 and 64 connections. Beside each: the cores the Python
server used and how busy the whole machine was, which say what bounds the
figure (docs/performance.md). With 2 processes it also measures the other way
to use them: two single-process services on two ports, both Envoy endpoints.
Then the resident memory of every Python server process, idle and under load.

Each run is bounded (a few seconds, a request cap); the machine is shared, so
read the ratios within the run, not the absolute figures.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from protomesh_toolkit.bench.load import Load, Target, h2load_available, run_h2load
from protomesh_toolkit.bench.scaling_report import (
    BASELINE,
    DIRECT,
    REST,
    REST_PORTS,
    Cell,
    MemorySampler,
    Usage,
    print_memory,
    print_table,
)
from protomesh_toolkit.codegen import ensure_generated

if TYPE_CHECKING:
    from protomesh_toolkit.bench.stack import Stack

# Modules that import generated code (shop.*) are imported after `main` has
# made sure gen/ is there and fresh, so the benchmark runs from a fresh clone.


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    if not h2load_available():
        print("scaling bench: needs h2load (apt-get install nghttp2-client)", file=sys.stderr)
        return 2
    ensure_generated()
    print(
        f"GetUser scaling: processes {options.workers} x connections {options.connections},"
        f" {options.seconds:g} s runs after {options.warmup:g} s warm-up, one run each,"
        f" load from h2load; pool of {options.pool_size} per process",
        flush=True,
    )
    cells: list[Cell] = []
    memory: dict[tuple[int, str], MemorySampler] = {}
    for workers in options.workers:
        cells += _measure_stack(workers, options, memory)
    print_table(cells, options.workers, options.connections)
    print_memory(memory)
    return 0


def _measure_stack(
    workers: int, options: argparse.Namespace, memory: dict[tuple[int, str], MemorySampler]
) -> list[Cell]:
    from protomesh_toolkit.bench.stack import running_stack

    cells = []
    with (
        running_stack(
            pool_size=options.pool_size, access_log=False, envoy=True, workers=workers
        ) as stack,
        contextlib.ExitStack() as extra,
    ):
        targets = _targets(stack)
        servers = {DIRECT: [stack.user_pid], REST: [stack.user_pid], BASELINE: [stack.baseline_pid]}
        if workers > 1 and stack.rest_url is not None:
            url, pids = _two_ports_behind_envoy(extra, stack, workers)
            targets.append(Target(REST_PORTS, url + f"/v1/users/{stack.user_id}"))
            servers[REST_PORTS] = pids
        envoys = {t.name: _envoy_pid(t.url) if "Envoy" in t.name else None for t in targets}
        samplers = {
            "user service": MemorySampler(stack.user_pid),
            "FastAPI": MemorySampler(stack.baseline_pid),
        }
        for name, sampler in samplers.items():
            sampler.idle()
            memory[workers, name] = sampler
        for connections in options.connections:
            load = Load(connections, options.seconds, options.warmup, options.max_requests)
            for target in targets:
                usage = Usage.start(servers[target.name], envoys[target.name])
                with samplers["user service"].under_load(), samplers["FastAPI"].under_load():
                    measured = run_h2load(target, load)
                cell = Cell(target.name, workers, connections, measured, usage.stop(measured))
                cells.append(cell)
                print(f"  {cell.row()}", flush=True)
    return cells


def _targets(stack: Stack) -> list[Target]:
    from shop.user.v1 import user_pb2

    request = user_pb2.GetUserRequest(user_id=stack.user_id).SerializeToString()
    path = f"/v1/users/{stack.user_id}"
    direct = f"http://{stack.grpc_address}/shop.user.v1.UserService/GetUser"
    targets = [Target(DIRECT, direct, request)]
    if stack.rest_url is not None:
        targets.append(Target(REST, stack.rest_url + path))
    targets.append(Target(BASELINE, stack.baseline_url + path))
    return targets


def _two_ports_behind_envoy(
    cleanup: contextlib.ExitStack, stack: Stack, count: int
) -> tuple[str, list[int]]:
    """`count` single-process user services on ports of their own, each an Envoy endpoint."""
    from protomesh.registry import LOCAL
    from protomesh_toolkit.bench.edge_proxy import start_envoy
    from protomesh_toolkit.bench.processes import HOST, free_port
    from protomesh_toolkit.bench.stack import start_user_service

    ports = [free_port() for _ in range(count)]
    started = [
        start_user_service(cleanup, stack.directory, port, stack.user_options, workers=1)
        for port in ports
    ]

    def every_port_an_endpoint(document: dict[str, object]) -> None:
        services = document["services"]
        assert isinstance(services, dict)
        services["user"]["replicas"] = [{"port": {LOCAL: port}} for port in ports]

    directory = stack.directory / "ports"
    directory.mkdir()
    url = start_envoy(
        cleanup, directory, f"{HOST}:{ports[0]}", stack.user_id, every_port_an_endpoint
    )
    return url, [process.pid for process in started]


def _envoy_pid(url: str) -> int | None:
    """The Envoy serving `url` (the process listening on its port)."""
    from urllib.parse import urlsplit

    from protomesh_toolkit.bench.processes import all_processes, listening

    port = urlsplit(url).port
    holders = listening(all_processes(), port) if port is not None else []
    return holders[0] if holders else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m protomesh_toolkit.bench.scaling", description=__doc__
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured time per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured time before it")
    parser.add_argument("--pool-size", type=int, default=8, help="asyncpg pool of each process")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="per-run bound")
    return parser


if __name__ == "__main__":
    sys.exit(main())
