"""Structured logging: one JSON object per line, with the request id attached.

Collectors parse JSON lines without guessing; a person at a terminal gets
`--pretty` (or a TTY) instead. Fields passed with `extra={...}` are kept.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from protomesh import request_context

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


def stamp_request_ids() -> None:
    """Give every log record the current request id, taken when the record is made.

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
        return record

    make.stamps_request_id = True  # type: ignore[attr-defined]
    return make


def configure(
    service: str, level: str = "info", *, pretty: bool | None = None, stream: TextIO | None = None
) -> None:
    stream = stream or sys.stderr
    if pretty is None:
        pretty = stream.isatty()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PrettyFormatter() if pretty else JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    stamp_request_ids()
