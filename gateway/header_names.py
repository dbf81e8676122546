"""Drop request headers whose names gRPC cannot carry, before they reach a service.

HTTP/1.1 allows header names like `x-a&b` or `*` (any token character);
gRPC metadata keys are only `0-9 a-z _ - .`. The transcoder forwards every
request header to the service as HTTP/2 headers, and grpc's HPACK parser
refuses the whole call on such a name: the client got 500 INTERNAL "Illegal
header key" for a header no service would ever read (found by the OpenAPI
fuzzer, tests/fuzz/test_openapi_fuzz.py). Such headers mean nothing to a
service, so the edge drops them and the call goes through, as it would
through any proxy that ignores headers it does not know.
"""

from __future__ import annotations

from typing import Any

LUA = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"
FILTER_NAME = "envoy.filters.http.lua.grpc_header_names"
# Envoy lower-cases names; pseudo-headers (`:path`) are the codec's own.
_SCRIPT = """function envoy_on_request(request_handle)
  local headers = request_handle:headers()
  local illegal = {}
  for name, _ in pairs(headers) do
    if string.sub(name, 1, 1) ~= ":" and string.find(name, "[^0-9a-z_.%-]") then
      table.insert(illegal, name)
    end
  end
  for _, name in ipairs(illegal) do
    headers:remove(name)
  end
end
"""


def grpc_header_names_filter() -> dict[str, Any]:
    return {
        "name": FILTER_NAME,
        "typed_config": {"@type": LUA, "default_source_code": {"inline_string": _SCRIPT}},
    }
