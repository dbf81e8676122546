"""The descriptor set the edge's transcoder reads: the contracts plus google.rpc's error types.

Services attach `google.rpc` details (BadRequest, ErrorInfo, ResourceInfo...)
to their errors. The transcoder prints them into the JSON error body only if
it knows their types; when it does not, it gives up on the body altogether
(an empty reply with `content-type: application/grpc`). The contracts never
import those types, so `make gen`'s descriptor lacks them; the edge's copy
adds them, from the googleapis-common-protos package the runtime uses.
"""

from __future__ import annotations

import os
from pathlib import Path

from google.protobuf import descriptor, descriptor_pb2
from google.rpc import error_details_pb2, status_pb2

ERROR_TYPES = (status_pb2.DESCRIPTOR, error_details_pb2.DESCRIPTOR)


def edge_descriptor_set(contracts: bytes) -> bytes:
    """`contracts` (a serialized FileDescriptorSet) with the error types and their imports."""
    files = descriptor_pb2.FileDescriptorSet.FromString(contracts)
    present = {file.name for file in files.file}

    def add(file: descriptor.FileDescriptor) -> None:
        if file.name in present:
            return
        for dependency in file.dependencies:  # imports before the files that use them
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        files.file.append(proto)
        present.add(file.name)

    for error_type in ERROR_TYPES:
        add(error_type)
    return files.SerializeToString(deterministic=True)


def write_edge_descriptor_set(contracts: Path, target: Path) -> None:
    """Write it atomically: a running Envoy must never read half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_suffix(".tmp")
    scratch.write_bytes(edge_descriptor_set(contracts.read_bytes()))
    os.replace(scratch, target)
