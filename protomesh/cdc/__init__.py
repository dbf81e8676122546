"""Change data capture: a context's table changes, read from PostgreSQL's WAL, onto JetStream.

`python -m protomesh.cdc` runs one worker for one context (docs/cdc.md):
logical decoding with the built-in `pgoutput` plugin from a publication of
the watched tables, typed change events (`shop.<context>.changes.v1`) on the
`<CONTEXT>_CHANGES` stream, exactly once for a consumer that drops repeated
message ids.
"""

from __future__ import annotations

from protomesh.cdc.capture import CaptureDatabase, ChangeCapture
from protomesh.cdc.naming import CaptureNames, changes_stream

__all__ = ["CaptureDatabase", "CaptureNames", "ChangeCapture", "changes_stream"]
