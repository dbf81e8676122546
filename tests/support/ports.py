"""Free loopback ports for servers the tests start.

A test picks a port, writes it into a mesh.yaml, and the server binds it a
few seconds later. Ports are picked *below* the kernel's ephemeral range
(ip_local_port_range, 32768-60999 by default): every `bind(0)` on the machine
and the source port of every outgoing connection come from that range, so a
port picked there can be taken in between, by another session's server or by
any client socket (seen: a cluster's service failing with "Failed to bind",
its port held by someone else). Below the range, only an explicit bind can
take it.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path
from typing import Any

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 20000  # above the well-known and registered ports services tend to use
ATTEMPTS = 200
_handed_out: set[int] = set()  # never the same port twice in one session
_pick = random.SystemRandom()


def free_port() -> int:
    highest = _below_ephemeral() - 1
    for _ in range(ATTEMPTS if highest > LOWEST else 0):
        port = _pick.randint(LOWEST, highest)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:  # no room below the range
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _below_ephemeral() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def relocate_infrastructure(document: dict[str, Any], environment: str = "local") -> None:
    """Put every infrastructure part of a mesh.yaml document, and every change-capture
    worker's metrics port, on free ports of one environment."""
    for component in document.get("infrastructure", {}).values():
        for key in [key for key in component if key.endswith("port")]:
            component[key] = {environment: free_port()}
    for capture in document.get("cdc", {}).values():
        capture["metrics_port"] = {environment: free_port()}
