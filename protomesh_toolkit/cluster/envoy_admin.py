"""Running Envoy: its command line, and what its admin interface says about it.

Shared by the local cluster and the tests, so both run Envoy the same way.
One worker thread is plenty on a laptop and keeps Envoy's memory small; hot
restart is off because each Envoy here owns its ports and is replaced, not
hot-swapped. Envoy's own log lines are JSON too, like the access log, so its
log file is one JSON document per line.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from protomesh_toolkit.codegen import tool

LOG_FORMAT = '{"time":"%Y-%m-%dT%T.%eZ","level":"%l","logger":"%n","message":"%j"}'
ADMIN_TIMEOUT = 1.0


def envoy_command(config_file: Path, *, log_level: str = "warning") -> list[str]:
    return [
        tool("envoy"),
        "--config-path",
        str(config_file),
        "--concurrency",
        "1",
        "--disable-hot-restart",
        "--log-level",
        log_level,
        "--log-format",
        LOG_FORMAT,
    ]


def validate_command(config_file: Path) -> list[str]:
    return [tool("envoy"), "--mode", "validate", "--config-path", str(config_file)]


def _get(admin_port: int, path: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{admin_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=ADMIN_TIMEOUT) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def readiness(admin_port: int) -> str:
    """LIVE once Envoy serves; PRE_INITIALIZING, INITIALIZING or DRAINING before or after."""
    _, body = _get(admin_port, "/ready")
    return body.strip()


def stats(admin_port: int, prefix: str = "") -> dict[str, int]:
    """Envoy's counters and gauges whose names start with `prefix`."""
    _, body = _get(admin_port, "/stats?format=json")
    values = {}
    for entry in json.loads(body)["stats"]:
        name, value = entry.get("name"), entry.get("value")
        if isinstance(name, str) and isinstance(value, int) and name.startswith(prefix):
            values[name] = value
    return values


def upstream_health(admin_port: int) -> dict[str, str]:
    """`cluster/host:port` → `healthy`, or the flags that keep the host out of rotation."""
    _, body = _get(admin_port, "/clusters")
    health = {}
    for line in body.splitlines():
        cluster, host, key, *value = line.split("::")
        if key == "health_flags":
            health[f"{cluster}/{host}"] = "::".join(value)
    return health
