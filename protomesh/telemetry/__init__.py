"""Observability for every service: traces over OTLP, RED metrics in Prometheus text.

`runtime.Telemetry` is what `GrpcService` turns on from a service's settings
(`tracing`, `server_spans`, `rpc_metrics`, `sql_spans`, `exposition`);
`propagation` carries a trace across the outbox → NATS → consumer hop;
`metrics` has the hooks the event pipeline calls. The local OTLP receiver
and `protomesh traces` are the toolkit's (protomesh_toolkit.traces).
See docs/observability.md.
"""
