"""Reads the running mesh on an interval and keeps the last few minutes in memory.

One background thread, one pass every INTERVAL seconds: the live health of
every component (the probes `protomesh status` uses), one scrape of each
service replica's `/metrics`, and NATS's `/jsz`. Each target keeps a ring
buffer of HISTORY scrapes (five minutes), so what the console holds is
bounded whatever the traffic: a few hundred small dicts per replica.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from protomesh.registry import Mesh
from protomesh_toolkit.cluster.components import ServiceProcess
from protomesh_toolkit.cluster.nats import NatsProcess
from protomesh_toolkit.cluster.plan import components
from protomesh_toolkit.cluster.status import ComponentStatus, collect
from protomesh_toolkit.console import scrape, streams
from protomesh_toolkit.console.scrape import Scrape
from protomesh_toolkit.console.streams import StreamState
from protomesh_toolkit.layout import Layout

log = logging.getLogger("protomesh_toolkit.console")

INTERVAL = 2.0  # seconds between passes: one scrape per replica, one /jsz, one health round
HISTORY = 150  # scrapes kept per target: five minutes at INTERVAL
STALE_AFTER = 3 * INTERVAL  # older data is shown as stale


@dataclass
class Reading:
    """A value and when it was last read successfully (monotonic seconds), or why not."""

    at: float | None = None
    error: str | None = None


@dataclass
class Snapshot:
    """What the pages render: a consistent copy, taken under the collector's lock."""

    now: float
    health: list[ComponentStatus]
    health_read: Reading
    scrapes: dict[str, list[Scrape]]  # by replica name, oldest first
    scrape_read: dict[str, Reading]
    streams: list[StreamState]
    streams_read: Reading
    nats_url: str | None
    passes: int

    def is_stale(self, reading: Reading) -> bool:
        return reading.at is None or self.now - reading.at > STALE_AFTER


@dataclass
class _Targets:
    metrics: dict[str, int] = field(default_factory=dict)  # replica name -> metrics port
    nats_monitor: int | None = None
    nats_url: str | None = None


class Collector:
    def __init__(
        self, layout: Layout, mesh: Mesh, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.layout, self.mesh, self.clock = layout, mesh, clock
        self._targets = _targets(mesh, layout)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._health: list[ComponentStatus] = []
        self._health_read = Reading()
        self._scrapes: dict[str, deque[Scrape]] = {
            name: deque(maxlen=HISTORY) for name in self._targets.metrics
        }
        self._scrape_read = {name: Reading() for name in self._targets.metrics}
        self._streams: list[StreamState] = []
        self._streams_read = Reading()
        self._passes = 0
        self._thread = threading.Thread(target=self._run, name="console-collector", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=INTERVAL + 5)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                self.clock(),
                list(self._health),
                _copy(self._health_read),
                {name: list(kept) for name, kept in self._scrapes.items()},
                {name: _copy(reading) for name, reading in self._scrape_read.items()},
                list(self._streams),
                _copy(self._streams_read),
                self._targets.nats_url,
                self._passes,
            )

    def _run(self) -> None:
        while not self._stop.is_set():
            began = self.clock()
            self.collect_once()
            self._stop.wait(max(0.0, INTERVAL - (self.clock() - began)))

    def collect_once(self) -> None:
        """One pass; a failing source is recorded as such and the others still read."""
        self._read_health()
        for name, port in self._targets.metrics.items():
            self._read_metrics(name, port)
        if self._targets.nats_monitor is not None:
            self._read_streams(self._targets.nats_monitor)
        with self._lock:
            self._passes += 1

    def _read_health(self) -> None:
        try:
            health = collect(self.layout, self.mesh)
        except Exception as error:  # a broken cluster.json must not stop the console
            with self._lock:
                self._health_read.error = str(error)
            return
        with self._lock:
            self._health, self._health_read = health, Reading(self.clock())

    def _read_metrics(self, name: str, port: int) -> None:
        try:
            scraped = scrape.fetch(port, self.clock())
        except (OSError, ValueError) as error:
            with self._lock:
                self._scrape_read[name].error = f"scrape failed: {error}"
            return
        with self._lock:
            self._scrapes[name].append(scraped)
            self._scrape_read[name] = Reading(scraped.at)

    def _read_streams(self, port: int) -> None:
        try:
            found = streams.fetch(port)
        except (OSError, ValueError) as error:
            with self._lock:
                self._streams_read.error = f"/jsz failed: {error}"
            return
        with self._lock:
            self._streams, self._streams_read = found, Reading(self.clock())


def _copy(reading: Reading) -> Reading:
    return Reading(reading.at, reading.error)


def _targets(mesh: Mesh, layout: Layout) -> _Targets:
    targets = _Targets()
    for name, part in components(mesh, layout).items():
        if isinstance(part, ServiceProcess) and part.metrics_port is not None:
            targets.metrics[name] = part.metrics_port
        elif isinstance(part, NatsProcess):
            targets.nats_monitor, targets.nats_url = part.admin_port, part.url
    return targets
