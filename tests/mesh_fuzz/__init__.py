"""A fuzzer for the mesh's front doors: the edge (REST and gRPC) and each service over mTLS.

It sends malformed headers, paths, JSON bodies and protobuf bytes, and after
every bad request a known-good call from another client, and holds the mesh
to what a caller must always get: no 5xx of the mesh's making, no UNKNOWN or
INTERNAL, no exception class or file path in any reply, every service still
SERVING at the end, and no bad request ever changing the next client's answer.

    make fuzz N=10000                   # its own PostgreSQL, services and Envoy
    python -m tests.mesh_fuzz --cases 2000 --seed 7

tests/integration/test_fuzz_bounded.py runs a few hundred cases in the suite.
"""
