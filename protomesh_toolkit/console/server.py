"""The console's HTTP server: read-only pages, plus the one confirmed action.

    python -m protomesh_toolkit.console --port 8070   # `protomesh up` runs it

GETs never change anything. Replaying a dead letter takes two POSTs: the
first shows what will happen, the second must carry the token that page
holds. A POST from another origin (a page elsewhere in the operator's
browser) is refused, and the server binds to the loopback only.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
import re
import secrets
import signal
import threading
import urllib.parse
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from protomesh.bus.streams import DEAD_LETTERS
from protomesh.registry import Mesh, load_mesh
from protomesh_toolkit.cluster.components import ServiceProcess
from protomesh_toolkit.cluster.plan import components
from protomesh_toolkit.cluster.ports import HOST
from protomesh_toolkit.console import detail_pages, overview
from protomesh_toolkit.console.collector import Collector
from protomesh_toolkit.console.dead_letters import (
    DeadLetterError,
    dead_letter,
    list_dead_letters,
    operator_tls,
    replay,
)
from protomesh_toolkit.console.layout_html import page, section
from protomesh_toolkit.console.trace_lookup import SpanFile, find_trace, waterfall
from protomesh_toolkit.layout import Layout

log = logging.getLogger("protomesh_toolkit.console")

HEALTH_PATH = "/healthz"
REPLAY_PATH = re.compile(r"/dead-letters/(\d+)/replay")


class Console:
    """Everything a request needs: the collector's snapshots, the span file, the mesh."""

    def __init__(self, layout: Layout, mesh: Mesh) -> None:
        self.layout, self.mesh = layout, mesh
        self.collector = Collector(layout, mesh)
        self.spans = SpanFile(layout.traces_file)
        self.secret = secrets.token_bytes(32)
        self.replicas: dict[str, list[str]] = {}
        for name, part in components(mesh, layout).items():
            if isinstance(part, ServiceProcess):
                self.replicas.setdefault(part.service.name, []).append(name)

    def token(self, sequence: int) -> str:
        return hmac.new(self.secret, str(sequence).encode(), hashlib.sha256).hexdigest()

    def part(self, name: str) -> str | None:
        snapshot = self.collector.snapshot()
        if name == "health":
            return overview.health_section(snapshot, self.mesh, self.replicas)
        if name == "rpcs":
            return overview.rpc_section(snapshot)
        if name == "events":
            count = None
            if snapshot.streams_read.at is not None:
                found = [s.messages for s in snapshot.streams if s.name == DEAD_LETTERS.name]
                count = found[0] if found else 0
            return overview.events_section(snapshot, count)
        if name == "traces":
            return overview.traces_section(self.spans)
        return None

    def overview(self) -> str:
        parts = [
            ("health", "Topology and health"),
            ("rpcs", "RPCs per service"),
            ("events", "Outbox, consumers and dead letters"),
            ("traces", "Recent traces"),
        ]
        body = "".join(
            section(name, heading, self.part(name) or "", f"/part/{name}")
            for name, heading in parts
        )
        return page("Overview", detail_pages.search_form() + body, refresh=True)

    def traces(self, query: str) -> tuple[HTTPStatus, str]:
        if not query:
            return HTTPStatus.OK, page(
                "Traces",
                detail_pages.search_form()
                + section(
                    "traces",
                    "Recent traces",
                    overview.traces_section(self.spans, 50),
                    "/part/traces",
                ),
                refresh=True,
            )
        spans = self.spans.spans()
        trace_id = find_trace(spans, query, self.layout.logs_dir)
        if trace_id is None:
            message = f'<p role="alert">No trace found for <code>{escape(query)}</code>.</p>'
            return HTTPStatus.NOT_FOUND, page("Trace", detail_pages.search_form(query) + message)
        bars = waterfall(spans, trace_id)
        if not bars:  # named in a log line, but no span arrived: unsampled, or not flushed yet
            message = (
                f'<p role="alert">The request belongs to trace <code>{trace_id}</code>, but the '
                "receiver has none of its spans: it was not sampled, or its spans are not "
                "flushed yet (every 5 s). Try again in a few seconds.</p>"
            )
            return HTTPStatus.NOT_FOUND, page("Trace", detail_pages.search_form(query) + message)
        body = detail_pages.waterfall(trace_id, bars)
        return HTTPStatus.OK, page("Trace", detail_pages.search_form(query) + body)

    def dead_letters(self, notice: str = "") -> tuple[HTTPStatus, str]:
        url = self.collector.snapshot().nats_url
        if url is None:
            return HTTPStatus.NOT_FOUND, page("Dead letters", "<p>This mesh has no NATS.</p>")
        try:
            table = detail_pages.dead_letter_table(
                list_dead_letters(url, tls=operator_tls(self.layout))
            )
        except DeadLetterError as error:
            table = f'<p class="stale" role="alert">{escape(str(error))}</p>'
        return HTTPStatus.OK, page(
            "Dead letters", notice + f"<h2>Dead letters ({DEAD_LETTERS.name})</h2>" + table
        )

    def replay(self, sequence: int, confirm: str | None) -> tuple[HTTPStatus, str]:
        url = self.collector.snapshot().nats_url
        if url is None:
            return HTTPStatus.NOT_FOUND, page("Replay", "<p>This mesh has no NATS.</p>")
        try:
            if confirm is None:
                letter = dead_letter(url, sequence, operator_tls(self.layout))
                return HTTPStatus.OK, page(
                    "Replay", detail_pages.confirm_replay(letter, self.token(sequence))
                )
            if not hmac.compare_digest(confirm, self.token(sequence)):
                return HTTPStatus.FORBIDDEN, page("Replay", "<p>Confirmation did not match.</p>")
            outcome = replay(url, sequence, operator_tls(self.layout))
        except DeadLetterError as error:
            message = f'<p class="stale" role="alert">{escape(str(error))}</p>'
            return HTTPStatus.CONFLICT, page("Replay", message)
        log.info("replayed dead letter %d to %s", sequence, outcome.letter.subject)
        return self.dead_letters(detail_pages.replayed(outcome))


class Handler(BaseHTTPRequestHandler):
    console: Console  # set on the subclass `serve` makes
    server_version = "protomesh-console"

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == HEALTH_PATH:
            self._send(HTTPStatus.OK, "ok\n", "text/plain")
        elif url.path == "/":
            self._send(HTTPStatus.OK, self.console.overview())
        elif url.path.startswith("/part/"):
            fragment = self.console.part(url.path.removeprefix("/part/"))
            if fragment is None:
                self._send(HTTPStatus.NOT_FOUND, "no such part\n", "text/plain")
            else:
                self._send(HTTPStatus.OK, fragment)
        elif url.path == "/traces":
            self._send(*self.console.traces(query.get("q", [""])[0]))
        elif url.path == "/dead-letters":
            self._send(*self.console.dead_letters())
        else:
            self._send(HTTPStatus.NOT_FOUND, page("Not found", "<p>No such page.</p>"))

    def do_POST(self) -> None:
        match = REPLAY_PATH.fullmatch(urllib.parse.urlsplit(self.path).path)
        if match is None:
            self._send(HTTPStatus.NOT_FOUND, page("Not found", "<p>No such action.</p>"))
            return
        if not self._same_origin():
            self._send(HTTPStatus.FORBIDDEN, page("Refused", "<p>Cross-origin POST refused.</p>"))
            return
        length = min(int(self.headers.get("content-length") or 0), 4096)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode(errors="replace"))
        self._send(*self.console.replay(int(match.group(1)), form.get("confirm", [None])[0]))

    def _same_origin(self) -> bool:
        origin = self.headers.get("origin")
        host = self.headers.get("host", "")
        return origin is None or origin in (f"http://{host}",)

    def _send(self, status: HTTPStatus, body: str, kind: str = "text/html") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", f"{kind}; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.send_header("cache-control", "no-store")
        self.send_header("x-frame-options", "DENY")
        self.send_header(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
            "connect-src 'self'; img-src data:; form-action 'self'; frame-ancestors 'none'",
        )
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def serve(layout: Layout, mesh: Mesh, host: str, port: int) -> tuple[ThreadingHTTPServer, Console]:
    """Start the collector and bind the server (not yet serving: call serve_forever)."""
    console = Console(layout, mesh)
    handler = type("BoundHandler", (Handler,), {"console": console})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    console.collector.start()
    return server, console


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m protomesh_toolkit.console")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default=HOST, help="loopback by default; it has no login")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    layout = Layout.from_environment()
    server, console = serve(layout, load_mesh(layout.mesh_file), args.host, args.port)
    log.info("console on http://%s:%d/", args.host, server.server_address[1])
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    finally:
        console.collector.stop()
        server.server_close()
    return 0
