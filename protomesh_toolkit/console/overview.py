"""The overview page's sections, each also served alone so the page can refresh it."""

from __future__ import annotations

import itertools
from html import escape

from protomesh.registry import Mesh
from protomesh_toolkit.cluster.status import ComponentStatus
from protomesh_toolkit.console.collector import STALE_AFTER, Reading, Snapshot
from protomesh_toolkit.console.drawing import Node, sparkline, topology
from protomesh_toolkit.console.scrape import Scrape, rates
from protomesh_toolkit.console.trace_lookup import SpanFile
from protomesh_toolkit.traces.view import summaries

RATE_WINDOW = 60.0  # seconds the table's figures cover
INFRASTRUCTURE = ("postgres", "nats", "otlp", "console")


def freshness(snapshot: Snapshot, reading: Reading, what: str) -> str:
    """A line saying how old the data is, and loudly so when it is stale."""
    if reading.at is None:
        detail = f": {reading.error}" if reading.error else ""
        return f'<p class="stale" role="status">No {what} read yet{escape(detail)}.</p>'
    age = snapshot.now - reading.at
    if age > STALE_AFTER or reading.error:
        why = f" ({reading.error})" if reading.error else ""
        return (
            f'<p class="stale" role="status">Stale: {what} last read {age:.0f}s ago'
            f"{escape(why)}.</p>"
        )
    return f'<p class="fresh">{escape(what.capitalize())} read {age:.0f}s ago.</p>'


def health_section(snapshot: Snapshot, mesh: Mesh, replicas: dict[str, list[str]]) -> str:
    by_name = {status.name: status for status in snapshot.health}
    columns = _columns(mesh, replicas, by_name, snapshot)
    edges: list[tuple[str, str, bool]] = []
    for name, service in mesh.services.items():
        for caller in sorted({c for callers in service.callers.values() for c in callers}):
            edges.append((caller, name, False))
        for dependency in service.depends_on:
            if dependency in INFRASTRUCTURE:
                edges.append((name, dependency, True))
    for stream in snapshot.streams:
        for consumer in stream.consumers:
            edges.append(("nats", f"consumer:{consumer.durable}", True))
    rows = "".join(_status_row(status) for status in snapshot.health)
    return (
        freshness(snapshot, snapshot.health_read, "health")
        + f'<div class="scroll">{topology(columns, edges)}</div>'
        + '<table><caption>Components, checked live</caption><thead><tr><th scope="col">'
        'Component</th><th scope="col">State</th><th scope="col">Port</th><th scope="col">'
        f"Detail</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _columns(
    mesh: Mesh,
    replicas: dict[str, list[str]],
    by_name: dict[str, ComponentStatus],
    snapshot: Snapshot,
) -> list[list[Node]]:
    def state(name: str) -> str:
        status = by_name.get(name)
        return status.state if status is not None else ""

    callers = sorted(
        {c for s in mesh.services.values() for cs in s.callers.values() for c in cs}
        - set(mesh.services)
        - {"edge"}
    )
    first = [Node(name, name, "", ("identity (certificate)",)) for name in callers]
    if mesh.edge is not None:
        first.insert(0, Node("edge", "edge (Envoy)", state("edge"), (), "edge"))
    services = []
    for name in mesh.services:
        names = replicas.get(name, [])
        states = [state(replica) for replica in names]
        worst = next((s for s in ("exited", "unhealthy", "stopped", "") if s in states), "healthy")
        lines = tuple(f"{replica}: {state(replica) or '?'}" for replica in names)
        services.append(Node(name, f"{name} + outbox relay", worst, lines, name))
    infrastructure = [
        Node(name, name, state(name), (), name) for name in INFRASTRUCTURE if name in by_name
    ]
    consumers = [
        Node(
            f"consumer:{consumer.durable}",
            consumer.durable,
            "healthy" if consumer.waiting else "",
            (f"on {stream.name}", f"lag {consumer.lag}", "pulling" if consumer.waiting else "idle"),
        )
        for stream in snapshot.streams
        for consumer in stream.consumers
    ]
    return [column for column in (first, services, infrastructure, consumers) if column]


def _status_row(status: ComponentStatus) -> str:
    port = "-" if status.port is None else str(status.port)
    return (
        f'<tr data-component="{escape(status.name)}"><th scope="row">{escape(status.name)}</th>'
        f'<td class="state-{escape(status.state)}">{escape(status.state)}</td><td>{port}</td>'
        f"<td>{escape(status.detail)}</td></tr>"
    )


def rpc_section(snapshot: Snapshot) -> str:
    if not snapshot.scrapes:
        return "<p>No service has a <code>metrics_port</code> in mesh.yaml.</p>"
    parts = []
    for name, kept in snapshot.scrapes.items():
        parts.append(f"<h3>{escape(name)}</h3>")
        parts.append(freshness(snapshot, snapshot.scrape_read[name], f"{name}'s metrics"))
        parts.append(_rpc_table(name, kept))
    return "".join(parts)


def _rpc_table(name: str, kept: list[Scrape]) -> str:
    if len(kept) < 2:
        return "<p>Waiting for a second scrape to compute rates.</p>"
    newest = kept[-1]
    window = next((s for s in kept if newest.at - s.at <= RATE_WINDOW), kept[0])
    if window is newest:
        window = kept[-2]
    current = {r.method: r for r in rates(window, newest)}
    if not current:
        return "<p>No RPC handled yet.</p>"
    history = [{r.method: r for r in rates(a, b)} for a, b in itertools.pairwise(kept)]
    rows = []
    for method, now in sorted(current.items(), key=lambda item: _probe_last(item[0])):
        per_second = [h[method].per_second if method in h else 0.0 for h in history]
        p99 = [h[method].p99_ms if method in h else None for h in history]
        rows.append(
            f'<tr><th scope="row"><code>{escape(method)}</code></th>'
            f"<td>{now.per_second:.2f}</td><td>{now.error_ratio * 100:.1f}%</td>"
            f"<td>{_ms(now.p50_ms)}</td><td>{_ms(now.p99_ms)}</td>"
            f"<td>{sparkline(per_second, f'{method} on {name}: requests per second')}</td>"
            f"<td>{sparkline(p99, f'{method} on {name}: p99 latency in ms')}</td></tr>"
        )
    seconds = newest.at - window.at
    return (
        f"<table><caption>Last {seconds:.0f}s; charts span the last "
        f"{newest.at - kept[0].at:.0f}s</caption><thead><tr>"
        '<th scope="col">RPC</th><th scope="col">req/s</th><th scope="col">errors</th>'
        '<th scope="col">p50</th><th scope="col">p99</th><th scope="col">req/s chart</th>'
        f'<th scope="col">p99 chart</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _probe_last(method: str) -> tuple[bool, str]:
    """Health checks (the supervisor's and the console's own probes) after the service's RPCs."""
    return method.startswith("/grpc.health."), method


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def events_section(snapshot: Snapshot, dead_letter_count: int | None) -> str:
    relay_rows = []
    for name, kept in snapshot.scrapes.items():
        if not kept:
            continue
        newest, oldest = kept[-1], kept[0]
        for stream, rows in sorted(newest.backlog.items()):
            count = newest.relay_lag_count.get(stream, 0.0) - oldest.relay_lag_count.get(stream, 0)
            total = newest.relay_lag_sum.get(stream, 0.0) - oldest.relay_lag_sum.get(stream, 0.0)
            lag = f"{total / count * 1000:.1f} ms" if count > 0 else "-"
            relay_rows.append(
                f'<tr><th scope="row">{escape(name)}</th><td>{escape(stream)}</td>'
                f"<td>{rows:.0f}</td><td>{lag}</td></tr>"
            )
    consumer_rows = [
        f'<tr data-durable="{escape(c.durable)}"><th scope="row">{escape(c.durable)}</th>'
        f"<td>{escape(c.stream)}</td><td>{c.pending}</td><td>{c.ack_pending}</td>"
        f"<td>{c.redelivered}</td></tr>"
        for stream in snapshot.streams
        for c in stream.consumers
    ]
    dead = "unknown" if dead_letter_count is None else str(dead_letter_count)
    return (
        "<table><caption>Outbox relays (backlog now; mean lag over the charts' window)</caption>"
        '<thead><tr><th scope="col">Service</th><th scope="col">Stream</th>'
        '<th scope="col">Backlog rows</th><th scope="col">Relay lag</th></tr></thead>'
        f"<tbody>{''.join(relay_rows) or '<tr><td colspan=4>none reported</td></tr>'}</tbody>"
        "</table>"
        + freshness(snapshot, snapshot.streams_read, "JetStream")
        + '<table><caption>Durable consumers</caption><thead><tr><th scope="col">Durable</th>'
        '<th scope="col">Stream</th><th scope="col">Pending</th><th scope="col">Unacked</th>'
        '<th scope="col">Redelivered</th></tr></thead>'
        f"<tbody>{''.join(consumer_rows) or '<tr><td colspan=5>none</td></tr>'}</tbody></table>"
        f'<p>Dead letters: <a href="/dead-letters" id="dead-letter-count">{dead}</a></p>'
    )


def traces_section(spans: SpanFile, limit: int = 10) -> str:
    found = summaries(spans.spans())[:limit]
    if not found:
        return (
            "<p>No traces yet. Traces need the local receiver: "
            "<code>protomesh up --otlp</code>.</p>"
        )
    rows = "".join(
        f'<tr><th scope="row"><a href="/traces?q={t.trace_id}"><code>{t.trace_id}</code></a>'
        f"</th><td>{escape(t.root)}</td><td>{t.spans}</td><td>{t.duration_ms:.1f} ms</td></tr>"
        for t in found
    )
    return (
        '<table><caption>Newest first</caption><thead><tr><th scope="col">Trace</th>'
        '<th scope="col">Root</th><th scope="col">Spans</th><th scope="col">Duration</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )
