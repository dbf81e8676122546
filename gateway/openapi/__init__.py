"""The edge's OpenAPI 3.1 document, generated from the descriptor set and mesh.yaml.

contracts.py reads the descriptor set (messages, methods, proto comments),
bindings.py an RPC's `google.api.http` rules, schemas.py maps proto types to
proto3 JSON schemas, operations.py makes one operation per binding, and
document.py assembles them for the RPCs the edge exposes. pages.py writes
the document and the packaged Swagger UI where Envoy serves them from,
serving.py adds their routes to the edge's config, and command.py is
`python -m gateway openapi`.
"""
