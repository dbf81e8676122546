"""The mesh's deployment topology, derived from mesh.yaml.

The same registry drives the local cluster (`protomesh up`), docker-compose.yml
and the Kubernetes manifests in deploy/k8s/: `wiring.py` says what each
service is told about its dependencies in every environment, `compose.py` and
`kubernetes.py` render the container topologies, and `files.py` compares the
committed files with a fresh rendering. `python -m protomesh_toolkit.topology` writes
(or with `--check`, verifies) them.
"""
