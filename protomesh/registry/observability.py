"""The `telemetry` section: where traces go in each environment, and how many are kept.

    telemetry:
      otlp_endpoint: {compose: otel-collector:4317}   # OTLP/gRPC collector, per environment
      receiver_port: {local: 4317}   # `protomesh up --otlp` runs a receiver here instead
      sample_rate: 0.1               # share of new traces kept (the edge decides for REST)
      console_port: {local: 8070}    # `protomesh up` serves the mesh console page here

An environment without an endpoint runs without tracing; services and the
edge render and start exactly as they would with no section at all.
"""

from __future__ import annotations

import re

from protomesh.registry.model import Observability
from protomesh.registry.reading import Reader

_ENDPOINT = re.compile(r"[A-Za-z0-9.-]+:\d{1,5}")


def read_observability(
    reader: Reader, value: object, environments: tuple[str, ...]
) -> Observability:
    path = "telemetry"
    top = reader.mapping(
        value, path, (), ("otlp_endpoint", "receiver_port", "sample_rate", "console_port")
    )
    endpoints: dict[str, str] = {}
    raw = reader.mapping(top.get("otlp_endpoint", {}), f"{path}.otlp_endpoint", (), environments)
    for environment, endpoint in raw.items():
        if isinstance(endpoint, str) and _ENDPOINT.fullmatch(endpoint):
            endpoints[environment] = endpoint
        else:
            reader.fail(
                f"{path}.otlp_endpoint.{environment}",
                f"{endpoint!r} is not host:port like otel-collector:4317",
            )
    receiver = reader.ports(
        top.get("receiver_port", {}), f"{path}.receiver_port", environments, every=False
    )
    rate = top.get("sample_rate", 1.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        reader.fail(f"{path}.sample_rate", f"{rate!r} is not a share between 0 and 1")
        rate = 1.0
    console = reader.ports(
        top.get("console_port", {}), f"{path}.console_port", environments, every=False
    )
    return Observability(endpoints, receiver, float(rate), console)
