"""Free loopback ports for servers the tests start."""

from __future__ import annotations

import socket
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def relocate_infrastructure(document: dict[str, Any], environment: str = "local") -> None:
    """Put every infrastructure part of a mesh.yaml document on free ports of one environment."""
    for component in document.get("infrastructure", {}).values():
        for key in [key for key in component if key.endswith("port")]:
            component[key] = {environment: free_port()}
