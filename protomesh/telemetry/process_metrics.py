"""One /metrics for a replica of several server processes: the parent merges theirs.

Each server process keeps its own prometheus-client registry and serves it on
a private port it reports to the parent (`process_role.report_metrics_port`).
The parent serves the replica's metrics port; a scrape there reads every
server process at that moment and returns the union, each sample labelled
with `process="<index>"` — so nothing is summed wrongly (a gauge like the
pool's size is per process) and `sum without (process) (...)` gives the
replica's totals. A process that does not answer is left out of that scrape,
not waited for beyond `SCRAPE_TIMEOUT`.

prometheus-client's multiprocess mode was the alternative; it cannot serve
collectors that read live state at scrape time (the pool gauges), and it
needs its directory set before the first import of the library.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from protomesh.telemetry.exposition import MetricsServer

log = logging.getLogger("protomesh.telemetry")
SCRAPE_TIMEOUT = 2.0
PROCESS_LABEL = "process"
_ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}


class ProcessFamilyCollector(Collector):
    def __init__(self, host: str, ports: Sequence[Callable[[], int | None]]) -> None:
        # A server process listening on every address is reached on loopback.
        self.host = "127.0.0.1" if host in _ANY_ADDRESS else host
        self.ports = ports  # by process index: its metrics port, None until known

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for index, port in enumerate(self.ports):
            text = self._scrape(index, port())
            if text is None:
                continue
            for family in text_string_to_metric_families(text):
                into = merged.setdefault(
                    family.name,
                    Metric(family.name, family.documentation, family.type, family.unit),
                )
                into.samples.extend(
                    sample._replace(labels={**sample.labels, PROCESS_LABEL: str(index)})
                    for sample in family.samples
                )
        yield from merged.values()

    def _scrape(self, index: int, port: int | None) -> str | None:
        if port is None:  # not serving metrics yet
            return None
        try:
            url = f"http://{self.host}:{port}/metrics"
            with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT) as reply:
                return str(reply.read().decode())
        except OSError as error:  # gone, or stuck past the timeout
            log.debug("no metrics from server process %d: %s", index, error)
            return None


def serve_family_metrics(
    host: str, port: int, ports: Sequence[Callable[[], int | None]]
) -> MetricsServer:
    """Serve the merged `/metrics` of the server processes whose ports `ports` give."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProcessFamilyCollector(host, ports))
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(server, thread)
