"""What every reply to a bad request must be, whatever the request was.

A verdict is an outcome (counted: "rest 400", "grpc INVALID_ARGUMENT",
"reset"...) and, when the reply broke a rule, a finding saying which:

- no 5xx of the mesh's own making: a 504 only for a caller that sent a
  deadline of its own, which can be too short;
- no UNKNOWN and no INTERNAL, at either door, nor a REST body saying so;
- nothing that names an exception class, a traceback or a file path.

Two exceptions are grpc-core's own, straight to a service (the edge refuses
both before they reach one; docs/edge.md): a transport header its HPACK
parser cannot read, or a message flagged compressed without an encoding or
that does not inflate, fails the call with INTERNAL ("Error parsing
'<header>' metadata", "Compression bit set...", "Decompression failed...");
a body that is not a whole message (empty, cut short) gets no answer until
the caller gives up. They are counted apart; the
next client must still be unaffected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import grpc

from tests.mesh_fuzz.cases import DIRECT_GRPC, Case
from tests.support.raw_h2 import RawReply

LEAK = re.compile(
    r"Traceback|File \"|\.py\b|<class |site-packages|\b[A-Za-z_]+(?:Error|Exception)\b"
)
GRPC_CORE_REFUSALS = (
    "Error parsing '",
    "Compression bit set but no encoding",
    "Decompression failed",
)
_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}
FORBIDDEN = {grpc.StatusCode.UNKNOWN.value[0], grpc.StatusCode.INTERNAL.value[0]}


@dataclass(frozen=True)
class Verdict:
    outcome: str
    finding: str | None = None


def judge_rest(case: Case, status: int, headers: dict[str, str], body: bytes) -> Verdict:
    outcome = f"rest {status}"
    text = body.decode("utf-8", "replace") + " " + " ".join(headers.values())
    if status >= 500 and not (status == 504 and case.sends_deadline):
        return Verdict(outcome, f"HTTP {status}: {body[:200]!r}")
    if (grpc_status := headers.get("grpc-status")) and int(grpc_status) in FORBIDDEN:
        return Verdict(outcome, f"HTTP {status} says {_NAMES[int(grpc_status)]}: {body[:200]!r}")
    if leak := LEAK.search(text):
        return Verdict(outcome, f"reply names {leak.group(0)!r}: {text[:300]!r}")
    return Verdict(outcome)


def judge_silence(case: Case) -> Verdict:
    """No reply before the client gave up."""
    if case.door == DIRECT_GRPC:
        return Verdict("grpc-core waits for a whole message (direct)")
    return Verdict("no reply", "no reply from the edge before the client's timeout")


def judge_grpc(case: Case, reply: RawReply) -> Verdict:
    if reply.reset:
        return Verdict("reset")  # the HTTP/2 codec refused the stream: the sender's own
    status = reply.grpc_status
    if status is None:
        if reply.http_status >= 500:
            return Verdict(f"http {reply.http_status}", f"HTTP {reply.http_status} to gRPC")
        return Verdict(f"http {reply.http_status}")
    outcome = f"grpc {_NAMES.get(status, status)}"
    message = reply.grpc_message
    if case.door == DIRECT_GRPC and message.startswith(GRPC_CORE_REFUSALS):
        return Verdict("grpc-core refused it: INTERNAL (direct)")
    if status in FORBIDDEN:
        return Verdict(outcome, f"{_NAMES[status]}: {message[:200]!r}")
    if leak := LEAK.search(message):
        return Verdict(outcome, f"grpc-message names {leak.group(0)!r}: {message[:200]!r}")
    return Verdict(outcome)
