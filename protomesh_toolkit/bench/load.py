"""Drive load at one endpoint and summarise it: requests/s and latency percentiles.

h2load (Debian's `nghttp2-client`) is preferred when it is installed: it is
C, it speaks HTTP/2 for gRPC and HTTP/1.1 for REST, and it takes little of the
CPU the servers under test need. Without it a Python client stands in
(`protomesh_toolkit.bench.pyload`), which competes with the servers for the same
cores, so its figures are lower and its ratios only roughly comparable.
"""

from __future__ import annotations

import math
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from protomesh.tls.files import TlsFiles


@dataclass(frozen=True)
class Target:
    """One endpoint under load: a URL, and for gRPC the serialized request to send."""

    name: str
    url: str  # http://host:port/path
    grpc_request: bytes | None = None  # a serialized message; None means plain HTTP
    tls: TlsFiles | None = None  # gRPC over mTLS as this identity (the Python client only)
    server_name: str | None = None  # the name the server's certificate must carry
    # Plain HTTP: a GET unless a method and body are given (a REST write).
    http_method: str = "GET"
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Load:
    connections: int
    seconds: float  # measured time, after the warm-up
    warmup: float
    max_requests: int  # a hard bound even when the servers are faster than expected


@dataclass(frozen=True)
class Measurement:
    tool: str
    seconds: float
    latencies: tuple[float, ...]  # seconds per successful request (a sample), sorted
    failures: int
    requests: int  # that succeeded in `seconds`

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)


_REQUESTS = re.compile(
    r"requests: \d+ total, \d+ started, \d+ done, (?P<succeeded>\d+) succeeded,"
    r" (?P<failed>\d+) failed, (?P<errored>\d+) errored, (?P<timeout>\d+) timeout"
)


def percentile(ordered: Sequence[float], p: float) -> float:
    """The nearest-rank percentile: the smallest value with at least p% of values at or below it.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.0
    """
    if not ordered:
        raise ValueError("no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} is not in (0, 100]")
    return ordered[math.ceil(p / 100 * len(ordered)) - 1]


def grpc_frame(message: bytes) -> bytes:
    """A unary gRPC request body: not compressed (flag 0), 4-byte big-endian length, message."""
    return struct.pack(">BI", 0, len(message)) + message


def h2load_available() -> bool:
    return shutil.which("h2load") is not None


def run_h2load(target: Target, load: Load) -> Measurement:
    """One h2load run; every request's latency comes from its per-request log.

    h2load judges success by the HTTP status alone, which is 200 for every gRPC
    reply, errors included: callers check a gRPC target answers OK beforehand.
    """
    with tempfile.TemporaryDirectory(prefix="pm-h2load-") as scratch:
        log_file = Path(scratch) / "requests.tsv"
        command = [
            "h2load",
            f"--clients={load.connections}",
            "--max-concurrent-streams=1",
            "--threads=1",
            f"--duration={_milliseconds(load.seconds)}",
            f"--warm-up-time={_milliseconds(load.warmup)}",
            f"--log-file={log_file}",
        ]
        if target.grpc_request is None:
            command.append("--h1")
            if target.body is not None:
                body = Path(scratch) / "request.body"
                body.write_bytes(target.body)
                command.append(f"--data={body}")  # makes it a POST...
            if target.http_method not in ("GET", "POST"):
                command.append(f"--header=:method: {target.http_method}")  # ...or not
            command += [f"--header={name}: {value}" for name, value in target.headers]
        else:
            body = Path(scratch) / "request.bin"
            body.write_bytes(grpc_frame(target.grpc_request))
            command += [
                f"--data={body}",
                "--header=content-type: application/grpc",
                "--header=te: trailers",
            ]
        command.append(target.url)
        limit = load.seconds + load.warmup + 30
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=limit)
        if done.returncode != 0:
            raise RuntimeError(f"h2load failed on {target.url}:\n{done.stdout}{done.stderr}")
        return parse_h2load(done.stdout, log_file.read_text(), load)


def _milliseconds(seconds: float) -> str:
    """h2load reads "1.5" as an error; "1500ms" is what it understands."""
    return f"{round(seconds * 1000)}ms"


def parse_h2load(summary: str, log: str, load: Load) -> Measurement:
    """Counts from h2load's summary, latencies from its per-request log.

    The log holds the measured period's requests only (not the warm-up's), one
    row each: start in µs since the epoch, HTTP status, duration in µs.
    """
    counts = _REQUESTS.search(summary)
    if counts is None:
        raise RuntimeError(f"h2load printed no request counts:\n{summary}")
    latencies = []
    for line in log.splitlines():
        _, status, micros = line.split("\t")[:3]
        if status == "200":
            latencies.append(int(micros) / 1e6)
    failures = sum(int(counts[name]) for name in ("failed", "errored", "timeout"))
    succeeded = int(counts["succeeded"])
    return Measurement("h2load", load.seconds, tuple(sorted(latencies)), failures, succeeded)
