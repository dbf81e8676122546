"""What the scaling bench measures beside req/s, and how it prints the table.

`Usage` reads CPU time around one run: the Python server's (its whole process
family), Envoy's, and the machine's (/proc/stat), so each cell can say
whether the server was CPU-bound (its cores used near its process count),
the machine was (busy near 100 %: load generator, Envoy, PostgreSQL and the
neighbours share the same cores), or neither (latency-bound: one connection
waits for each reply). `MemorySampler` reads each process's RSS idle and its
peak under load.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from protomesh_toolkit.bench.load import Measurement
from protomesh_toolkit.bench.processes import family, process_cpu_seconds, rss_megabytes

DIRECT, REST, BASELINE = "gRPC direct", "REST via Envoy", "FastAPI + uvicorn"
REST_PORTS = "REST via Envoy, a port each"  # N single-process services as N Envoy endpoints
SAMPLE_SECONDS = 0.2
IDLE_CORES = 0.01  # below this a process did not serve the run


@dataclass(frozen=True)
class Used:
    server_cores: float  # CPU seconds of the Python server(s) per second of the run
    split: tuple[float, ...]  # the same for each process that served (parents left out)
    envoy_cores: float | None
    machine_busy: float  # share of all cores busy, whoever used them
    cpu_ms_per_request: float  # the Python server's


@dataclass
class Usage:
    servers: Sequence[int]
    envoy: int | None
    started: float
    per_process: dict[int, float]  # CPU seconds so far of every process of the server(s)
    envoy_cpu: float
    machine: tuple[int, int]

    @classmethod
    def start(cls, servers: Sequence[int], envoy: int | None) -> Usage:
        return cls(
            servers,
            envoy,
            time.monotonic(),
            _per_process(servers),
            process_cpu_seconds(envoy) if envoy else 0.0,
            _machine_jiffies(),
        )

    def stop(self, measured: Measurement) -> Used:
        wall = time.monotonic() - self.started
        now = _per_process(self.servers)
        spent = {pid: now[pid] - self.per_process.get(pid, 0.0) for pid in now}
        server = sum(spent.values())
        envoy = process_cpu_seconds(self.envoy) - self.envoy_cpu if self.envoy else None
        (busy_now, total_now), (busy_then, total_then) = _machine_jiffies(), self.machine
        busy, total = busy_now - busy_then, total_now - total_then
        # The warm-up's requests are not counted: take its share of the CPU out.
        share = measured.seconds / wall if wall > 0 else 1.0
        # Each process that served: not a parent supervising others (nor a helper
        # like multiprocessing's resource tracker, which uses no CPU to speak of).
        parents = {server for server in self.servers if len(family(server)) > 1}
        serving = [pid for pid in spent if pid not in parents and spent[pid] / wall >= IDLE_CORES]
        return Used(
            server / wall,
            tuple(spent[pid] / wall for pid in serving),
            None if envoy is None else envoy / wall,
            busy / total if total else 0.0,
            server * share / max(measured.requests, 1) * 1000,
        )


def _per_process(servers: Sequence[int]) -> dict[int, float]:
    return {pid: process_cpu_seconds(pid) for server in servers for pid in family(server)}


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat's first line."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass(frozen=True)
class Cell:
    target: str
    workers: int
    connections: int
    measured: Measurement
    used: Used

    def row(self) -> str:
        m, u = self.measured, self.used
        p99 = f"{m.percentile(99) * 1000:7.2f} ms" if m.latencies else "      —   "
        envoy = f"  Envoy {u.envoy_cores:4.2f}" if u.envoy_cores is not None else ""
        failed = f"  ({m.failures} failed)" if m.failures else ""
        return (
            f"{self.workers} proc {self.connections:>3} conn  {self.target:<27}"
            f" {m.rate:8,.0f} req/s  p99 {p99}  server {u.server_cores:4.2f} cores"
            f" ({' + '.join(f'{cores:.2f}' for cores in u.split)})"
            f"  {u.cpu_ms_per_request:5.3f} ms CPU/req{envoy}"
            f"  machine {u.machine_busy:4.0%}{failed}"
        )


def print_table(cells: list[Cell], workers: Sequence[int], connections: Sequence[int]) -> None:
    targets = list(dict.fromkeys(cell.target for cell in cells))
    found = {(c.target, c.workers, c.connections): c for c in cells}
    print("\nreq/s and p99 (ms) by processes per server and connections:")
    print(f"  {'procs':>5} {'conns':>5}  " + "  ".join(f"{t:>27}" for t in targets))
    for count in workers:
        for conns in connections:
            row = []
            for target in targets:
                cell = found.get((target, count, conns))
                if cell is None or not cell.measured.latencies:
                    row.append(f"{'—':>27}")
                    continue
                p99 = cell.measured.percentile(99) * 1000
                row.append(f"{cell.measured.rate:>16,.0f} {p99:7.2f} ms")
            print(f"  {count:>5} {conns:>5}  " + "  ".join(row))
    if len(workers) > 1:
        low, high = min(workers), max(workers)
        print(f"\nscaling: req/s with {high} processes / with {low} (same connections, one run):")
        for target in targets:
            ratios = []
            for conns in connections:
                base, more = found.get((target, low, conns)), found.get((target, high, conns))
                if base and more and base.measured.rate > 0:
                    ratios.append(f"{conns} conn {more.measured.rate / base.measured.rate:4.2f}")
            if ratios:
                print(f"  {target:<27} " + "   ".join(ratios))
    _print_baseline_ratios(found, workers, connections)


def _print_baseline_ratios(
    found: dict[tuple[str, int, int], Cell], workers: Sequence[int], connections: Sequence[int]
) -> None:
    print(
        "\nagainst FastAPI with as many processes (req/s ratio; aim direct >= 1.0, REST >= 0.75):"
    )
    for count in workers:
        for conns in connections:
            base = found.get((BASELINE, count, conns))
            if base is None or base.measured.rate <= 0:
                continue
            parts = []
            for target in (DIRECT, REST, REST_PORTS):
                cell = found.get((target, count, conns))
                if cell is not None:
                    parts.append(f"{target} {cell.measured.rate / base.measured.rate:4.2f}")
            print(f"  {count} proc {conns:>3} conn: " + "   ".join(parts))


@dataclass
class MemorySampler:
    """RSS of every process of one server: idle, and the peak seen under load."""

    pid: int
    idle_mb: dict[int, float] = field(default_factory=dict)
    peak_mb: dict[int, float] = field(default_factory=dict)

    def idle(self) -> None:
        self.idle_mb = self._now()

    @contextlib.contextmanager
    def under_load(self) -> Iterator[None]:
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(SAMPLE_SECONDS):
                for pid, megabytes in self._now().items():
                    self.peak_mb[pid] = max(self.peak_mb.get(pid, 0.0), megabytes)

        thread = threading.Thread(target=sample, name="rss-sampler", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _now(self) -> dict[int, float]:
        found = {}
        for pid in family(self.pid):
            megabytes = rss_megabytes(pid)
            if megabytes is not None:
                found[pid] = megabytes
        return found


def print_memory(memory: dict[tuple[int, str], MemorySampler]) -> None:
    print("\nresident memory (MiB) of each process, idle -> peak under load:")
    for (workers, name), sampler in memory.items():
        shown = []
        for index, pid in enumerate(sampler.idle_mb):
            role = "parent" if index == 0 and workers > 1 else f"#{index}"
            peak = sampler.peak_mb.get(pid, sampler.idle_mb[pid])
            shown.append(f"{role} {sampler.idle_mb[pid]:.0f} -> {peak:.0f}")
        total = sum(sampler.peak_mb.get(pid, v) for pid, v in sampler.idle_mb.items())
        print(f"  {name:<13} {workers} proc: " + ", ".join(shown) + f"   (peak sum {total:.0f})")
    print(f"  (cores on this machine: {os.cpu_count()})")
