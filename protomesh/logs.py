"""Structured logging: one JSON object per line, with the request and trace ids attached.

Collectors parse JSON lines without guessing; a person at a terminal gets
`--pretty` (or a TTY) instead. Fields passed with `extra={...}` are kept.
A line written while a request (or an event) is handled carries its
`request_id`, and inside a trace its `trace_id` and `span_id`, so a log
search by either finds every line of that request on every hop. The values
of the service's secrets never reach the output, whoever logs them.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry import trace

from protomesh import request_context

REDACTED = "***"
# Shorter values could be any word or number in a line: they cannot be told apart.
SHORTEST_REDACTED = 4

_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class PrettyFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        extras = {
            k: v
            for k, v in vars(record).items()
            if k not in _STANDARD_ATTRIBUTES and not k.startswith("_") and k != "request_id"
        }
        tail = " ".join(f"{k}={v}" for k, v in extras.items())
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.getMessage()}"
        if rid:
            line += f" request_id={rid}"
        if tail:
            line += f" {tail}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


_LEADING = (
    "ts",
    "time",
    "level",
    "service",
    "logger",
    "message",
    "request_id",
    "trace_id",
    "span_id",
)


def readable(line: str) -> str:
    """One of our JSON log lines as a person reads it; any other line unchanged.

    `2026-11-29T21:50:01.123+00:00 info  rpc /shop.user.v1.UserService/GetUser OK
    request_id=... trace_id=... duration_ms=0.8` (the service name is left out:
    `protomesh logs` already prefixes every line with its component).
    """
    try:
        entry = json.loads(line)
    except ValueError:
        return line
    if not isinstance(entry, dict) or "message" not in entry or "level" not in entry:
        return line
    head = f"{entry.get('ts') or entry.get('time', '')} {entry['level']!s:<7} {entry['message']}"
    ids = [f"{key}={entry[key]}" for key in ("request_id", "trace_id") if entry.get(key)]
    rest = [f"{k}={v}" for k, v in entry.items() if k not in _LEADING and k != "exception"]
    text = " ".join([head, *ids, *rest])
    if entry.get("exception"):
        text += "\n" + str(entry["exception"])
    return text


def stamp_request_ids() -> None:
    """Give every log record the current request id and trace ids, taken when it is made.

    Records may be formatted later or elsewhere (a queue, a test's capture), when
    the request's context is gone; so the id is copied at creation. Idempotent.
    """
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "stamps_request_id", False):
        logging.setLogRecordFactory(_stamping(factory))


def _stamping(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        rid = request_context.request_id.get()
        if rid is not None and not hasattr(record, "request_id"):
            record.request_id = rid
        span = trace.get_current_span().get_span_context()
        if span.is_valid and not hasattr(record, "trace_id"):
            record.trace_id = trace.format_trace_id(span.trace_id)
            record.span_id = trace.format_span_id(span.span_id)
        return record

    make.stamps_request_id = True  # type: ignore[attr-defined]
    return make


class RedactingFormatter(logging.Formatter):
    """Replaces secret values in whatever another formatter wrote (message, extras, traceback)."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        forms = set()
        for secret in secrets:
            if len(secret) >= SHORTEST_REDACTED:
                forms |= {secret, json.dumps(secret)[1:-1]}  # as written, and JSON-escaped
        self.forms = sorted(forms, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = self.inner.format(record)
        for form in self.forms:
            line = line.replace(form, REDACTED)
        return line


def configure(
    service: str,
    level: str = "info",
    *,
    pretty: bool | None = None,
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Log to `stream` as JSON lines (or pretty on a TTY), never printing any of `secrets`."""
    stream = stream or sys.stderr
    if pretty is None:
        pretty = stream.isatty()
    handler = logging.StreamHandler(stream)
    formatter = PrettyFormatter() if pretty else JsonFormatter(service)
    handler.setFormatter(RedactingFormatter(formatter, secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    stamp_request_ids()
