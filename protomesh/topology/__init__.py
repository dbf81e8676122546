"""The mesh's deployment topology, derived from mesh.yaml.

The same registry drives the local cluster (`protomesh up`), docker-compose.yml
and the Kubernetes manifests in deploy/k8s/: `wiring.py` says what each
service is told about its dependencies in every environment, `compose.py` and
`kubernetes.py` render the container topologies, and `audit.py` checks
committed files against the registry. `python -m protomesh.topology` writes
(or with `--check`, verifies) the rendered files.
"""
