"""A pipeline per service (pattern 21), from the real dependency graph.

`graph.py` reads the graph (Python imports through grimp, proto imports, the consumer
contracts, mesh.yaml); `plan.py` turns it into pipelines (which paths trigger each, which
tests each runs); `affected.py` routes a change to pipelines; `workflows.py` renders
`.github/workflows/` from the same plan (`python -m protomesh_toolkit.pipelines`).
"""
