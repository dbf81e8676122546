"""Every REST reply says its gRPC status in a `grpc-status` header, the one its body holds.

The transcoder turns an upstream's gRPC status into an HTTP status and a
google.rpc.Status body, and drops the `grpc-status` header on the way. The
access log's `%GRPC_STATUS%` then guesses the status back from the HTTP
code, and guesses wrong: a 400 became `Internal` when the caller had been
told INVALID_ARGUMENT. This Lua filter sits before the transcoder, so it sees
each REST reply last, and puts the status back: the upstream's own (recorded
by protomesh.transport_headers, which sees the reply before the transcoder),
or for Envoy's own replies the code local_replies.py wrote into the body. The
caller and the access log then read the same status. gRPC replies carry
theirs already and are left alone.
"""

from __future__ import annotations

from typing import Any

from gateway.local_replies import GRPC_CODE_OF_HTTP_STATUS, GRPC_UNKNOWN
from gateway.transport_headers import FILTER_NAME as RECORDER
from gateway.transport_headers import LUA

FILTER_NAME = "protomesh.status_header"
GRPC_OK = 0


def _source() -> str:
    table = ", ".join(
        f"[{http}] = {code}" for http, code in {200: GRPC_OK, **GRPC_CODE_OF_HTTP_STATUS}.items()
    )
    return f"""
local CODE_OF_HTTP_STATUS = {{{table}}}

function envoy_on_response(handle)
  local headers = handle:headers()
  local content_type = headers:get("content-type") or ""
  if string.find(content_type, "^application/grpc") or headers:get("grpc-status") then
    return
  end
  local recorded = handle:streamInfo():dynamicMetadata():get("{RECORDER}")
  local status = recorded and recorded["grpc_status"]
  if status == nil then
    status = CODE_OF_HTTP_STATUS[tonumber(headers:get(":status"))] or {GRPC_UNKNOWN}
  end
  headers:replace("grpc-status", tostring(status))
end
"""


def status_header_filter() -> dict[str, Any]:
    """The http filter, to be placed before the transcoder."""
    return {
        "name": FILTER_NAME,
        "typed_config": {"@type": LUA, "default_source_code": {"inline_string": _source()}},
    }
