"""The mesh console: the running local cluster as one page (`protomesh console`).

A small stdlib HTTP server, started by `protomesh up` as a cluster component
and bound to 127.0.0.1. A background collector reads what the mesh already
offers — the live health probes of `protomesh status`, each service's
Prometheus `/metrics`, NATS's monitoring `/jsz`, the local OTLP receiver's span
file — keeps a few minutes of it in memory, and the pages are rendered from
that on the server: inline SVG, no script needed to read them, a few lines of
our own script to keep them fresh. The one action, replaying a dead letter,
takes a POST and a confirmation.
"""
