"""The operator's toolkit: what runs, builds and checks the mesh, never what a service imports.

The `protomesh` command (cli/), the local cluster (cluster/), the compose and
Kubernetes renderings (topology/), the local CA (certs/), code generation,
the contract guards (contracts/), the benchmarks (bench/), the embedded
PostgreSQL and NATS servers (embedded/) and the local OTLP receiver with its
trace view (traces/). It may import the runtime (`protomesh`), the edge's
renderer (`gateway`) and the services it starts; none of them imports it
(import-linter contracts in pyproject.toml say so, and `make lint` checks).
"""
