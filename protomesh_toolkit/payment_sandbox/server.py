"""The sandbox's HTTP/JSON API (stdlib `http.server`, one thread per request).

POST /v2/authorisations             X-Request-Ref: <ref>   {"amount": "12.50", "ccy": "EUR"}
     → {"result_code": "AUTH_OK", "auth_id": "AU…", "processed_at": "20261205T201500Z"}
       or E102 (declined), E409 (the ref was used with other details), E400
POST /v2/authorisations/<auth_id>/void  → {"result_code": "VOID_OK"} or E404
GET  /v2/authorisations             every authorisation and its state (HELD / VOIDED)
GET  /health                        {"status": "UP"}
POST /_control  {"mode": "slow|fail|decline|garble", "count": N, "delay": 2.0}
     the next N authorise/void calls: answer after `delay` seconds (the work is
     still done), fail with HTTP 503 E500 (nothing done), decline, or answer an
     undocumented code (E777, nothing done).
"""

from __future__ import annotations

import json
import logging
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from protomesh_toolkit.payment_sandbox.ledger import MODES, OUTAGE, UNDOCUMENTED, Ledger

log = logging.getLogger("payment_sandbox")
VOID_PATH = re.compile(r"^/v2/authorisations/([A-Za-z0-9]+)/void$")
MAX_BODY = 16 * 1024


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, Handler)
        self.ledger = Ledger()


class Handler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"
    # The head and the body leave in two writes: with Nagle's algorithm the body of an
    # answer on a kept-alive connection waits for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            return None
        try:
            parsed = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200, {"status": "UP"})
        elif self.path == "/v2/authorisations":
            self._reply(200, {"authorisations": self.server.ledger.listing()})
        else:
            self._reply(404, {"result_code": "E404"})

    def do_POST(self) -> None:
        body = self._body()
        if body is None:
            self._reply(400, {"result_code": "E400"})
            return
        ledger = self.server.ledger
        if self.path == "/_control":
            mode, count = body.get("mode"), body.get("count", 1)
            if mode not in MODES or not isinstance(count, int) or count < 0:
                self._reply(400, {"result_code": "E400", "modes": list(MODES)})
                return
            ledger.inject(str(mode), count, float(body.get("delay", 0.0)))
            self._reply(200, {"queued": mode, "count": count})
            return
        void = VOID_PATH.match(self.path)
        if self.path != "/v2/authorisations" and void is None:
            self._reply(404, {"result_code": "E404"})
            return
        fault = ledger.next_fault()
        if fault is not None and fault.mode == "fail":
            self._reply(503, {"result_code": OUTAGE})
            return
        if fault is not None and fault.mode == "garble":
            self._reply(200, {"result_code": UNDOCUMENTED})
            return
        if void is not None:
            answer = ledger.void(void.group(1))
        else:
            ref = self.headers.get("x-request-ref", "")
            if not ref or len(ref) > 64:
                self._reply(400, {"result_code": "E400"})
                return
            declined = fault is not None and fault.mode == "decline"
            answer = ledger.authorise(ref, body, declined)
        if fault is not None and fault.mode == "slow":
            time.sleep(fault.delay)
        self._reply(200, answer)


def serve(host: str, port: int) -> None:
    server = SandboxServer((host, port))
    log.info("payment sandbox listening on %s:%d", host, server.server_address[1])
    try:
        server.serve_forever()
    finally:
        server.server_close()
