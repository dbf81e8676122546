"""The edge owns gRPC's transport headers: a client's copies are checked, capped or dropped.

Every request header reaches the service as gRPC metadata, and grpc-core
parses some of it itself: `grpc-timeout`, `grpc-encoding`, `te`, the
`grpc-status` family, every `-bin` value (base64). A value it cannot parse
fails that call with INTERNAL, and worse, grpc-core keeps the failure with the
HPACK table entry that Envoy's encoder made for the header, so every later
call on the same upstream connection that carries the same header name fails
too (docs/edge.md, "One client's bad header"). The edge's upstream
connections are shared by all clients; hence nothing a client sends may reach
grpc-core's parser unchecked.

This Lua filter runs right after the transcoder, where REST and gRPC calls
both look like the gRPC call they become and the route is the RPC's:

- a `grpc-timeout` must be gRPC's `1-8 digits + H|M|S|m|u|n`; a valid one is
  forwarded, capped at the route's timeout (the route's metadata carries it),
  so the service's deadline is the shorter of the client's and the edge's;
- `grpc-encoding` is kept for gRPC callers when the service can decode it
  (identity, gzip, deflate), and dropped from REST calls (the transcoder
  writes uncompressed frames);
- `te` becomes `trailers`, what gRPC requires;
- a gRPC caller's body must be one uncompressed, well-framed message (every
  RPC the edge exposes is unary): grpc-core answers a compressed flag without
  an encoding, or bytes that do not inflate, with INTERNAL, and waits for a
  message cut short until the deadline;
- every other `grpc-*` header and the load-balancer ones are the server's or
  the mesh's, never a client's: dropped;
- header names and values gRPC metadata cannot carry (names outside
  `[a-z0-9-_.]`, values outside printable ASCII, `-bin` values that are not
  base64) are refused, never silently altered: a header the service reads
  (an idempotency key) must not change meaning on the way.

A refused request gets 400 with the edge's google.rpc.Status JSON (a REST
caller) or INVALID_ARGUMENT (a gRPC caller), and never reaches an upstream.
"""

from __future__ import annotations

from typing import Any

from protomesh.registry import Policy

LUA = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"
FILTER_NAME = "protomesh.transport_headers"
# The route's metadata key (under FILTER_NAME) holding its timeout in milliseconds.
TIMEOUT_KEY = "timeout_ms"

SOURCE = r"""
local UNIT_MS = {H = 3600000, M = 60000, S = 1000, m = 1, u = 0.001, n = 0.000001}
local ENCODINGS = {identity = true, gzip = true, deflate = true}
local OWNED = {["lb-token"] = true, ["lb-cost-bin"] = true,
               ["endpoint-load-metrics-bin"] = true, ["x-endpoint-load-metrics-bin"] = true}
local GRPC_CONTENT_TYPES = {["application/grpc"] = true, ["application/grpc+proto"] = true}

local function refuse(handle, transcoded, message, ours)
  local headers
  if transcoded then
    headers = {[":status"] = ours and "500" or "400"}
  else
    headers = {[":status"] = "200", ["content-type"] = "application/grpc",
               ["grpc-status"] = ours and "13" or "3", ["grpc-message"] = message}
  end
  handle:respond(headers, message)
end

local function valid_base64(value)
  local body = string.gsub(value, "=?=$", "")
  if string.find(body, "[^A-Za-z0-9+/]") then return false end
  if #body % 4 == 1 then return false end
  return #body == #value or #value % 4 == 0
end

local function check(name, value)
  if string.sub(name, 1, 1) == ":" then return nil end
  if not string.find(name, "^[a-z0-9_.-]+$") then
    return "a request header name has characters gRPC metadata cannot carry"
  end
  if string.sub(name, -4) == "-bin" then
    if not valid_base64(value) then
      return "header '" .. name .. "' is not base64"
    end
  elseif string.find(value, "[^ -~]") then
    return "header '" .. name .. "' has characters outside printable ASCII"
  end
  return nil
end

-- Every RPC the edge exposes is unary: its body is one length-prefixed message.
-- It must be uncompressed: grpc-core answers a compressed flag without an
-- encoding, or bytes that do not inflate, with INTERNAL, and waits for a message
-- cut short until the deadline. (A valid grpc-encoding header with an
-- uncompressed message is harmless: the flag, not the header, says compressed.)
local FRAMING = "the body must be one uncompressed gRPC message: a 5-byte prefix "
  .. "(flag 0, then the length) and exactly that many bytes"

local function one_message(body)
  local size = 0
  if body ~= nil then size = body:length() end
  if size < 5 then return FRAMING end
  local flag, b1, b2, b3, b4 = string.byte(body:getBytes(0, 5), 1, 5)
  local length = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  if flag ~= 0 or length ~= size - 5 then return FRAMING end
  return nil
end

local function timeout_ms(value)
  local digits, unit = string.match(value, "^(%d+)([HMSmun])$")
  if digits == nil or #digits > 8 then return nil end
  return tonumber(digits) * UNIT_MS[unit]
end

-- The request's problem, or nil; it may remove and rewrite headers on the way.
local function inspect(handle, transcoded)
  local body = nil
  -- First: body() yields, and a headers object taken before it cannot be used after.
  if not transcoded then body = handle:body() end
  local headers = handle:headers()
  local drop = {}
  for name, value in pairs(headers) do
    local problem = check(name, value)
    if problem ~= nil then return problem end
    local grpc = string.sub(name, 1, 5) == "grpc-"
    if OWNED[name] or (grpc and name ~= "grpc-timeout" and name ~= "grpc-encoding") then
      drop[#drop + 1] = name
    end
  end
  for _, name in ipairs(drop) do headers:remove(name) end

  local encoding = headers:get("grpc-encoding")
  if transcoded then
    headers:remove("grpc-encoding")
  else
    local media_type = string.match(headers:get("content-type") or "", "^([^;]*)")
    if not GRPC_CONTENT_TYPES[media_type] then
      return "content-type must be application/grpc or application/grpc+proto"
    end
    local encodings = headers:getNumValues("grpc-encoding")
    if encoding ~= nil and (encodings > 1 or not ENCODINGS[encoding]) then
      return "grpc-encoding must be one of identity, gzip, deflate"
    end
    local problem = one_message(body)
    if problem ~= nil then return problem end
  end
  headers:replace("te", "trailers")

  local timeout = headers:get("grpc-timeout")
  if timeout ~= nil then
    local asked = nil
    if headers:getNumValues("grpc-timeout") == 1 then asked = timeout_ms(timeout) end
    if asked == nil then
      return "grpc-timeout must be 1 to 8 digits and a unit (H, M, S, m, u, n), e.g. 500m"
    end
    local limit = handle:metadata():get("TIMEOUT_KEY")
    if limit ~= nil and asked > limit then
      headers:replace("grpc-timeout", string.format("%dm", limit))
    end
  end
  return nil
end

function envoy_on_request(handle)
  local transcoded = handle:headers():get("x-envoy-original-method") ~= nil
  local ok, problem = pcall(inspect, handle, transcoded)
  if not ok then
    -- Fail closed: a request the edge could not check never reaches a service.
    handle:logErr("transport header check failed: " .. tostring(problem))
    return refuse(handle, transcoded, "the edge could not check this request", true)
  end
  if problem ~= nil then return refuse(handle, transcoded, problem) end
end

-- The upstream's status, before the transcoder turns it into an HTTP one (which
-- loses it: 400 is INVALID_ARGUMENT, FAILED_PRECONDITION or OUT_OF_RANGE), for
-- protomesh.status_header to hand to a REST caller and the access log.
function envoy_on_response(handle)
  local status = handle:headers():get("grpc-status")
  if status ~= nil then
    handle:streamInfo():dynamicMetadata():set("FILTER_NAME", "grpc_status", status)
  end
end
""".replace("TIMEOUT_KEY", TIMEOUT_KEY).replace("FILTER_NAME", FILTER_NAME)


def transport_header_filter() -> dict[str, Any]:
    """The http filter, to be placed right after the transcoder."""
    return {
        "name": FILTER_NAME,
        "typed_config": {"@type": LUA, "default_source_code": {"inline_string": SOURCE}},
    }


def route_metadata(policy: Policy) -> dict[str, Any]:
    """What the filter reads from an RPC's route: its timeout, the cap on a client's deadline."""
    if not policy.timeout:
        return {}
    milliseconds = round(policy.timeout * 1000)
    return {"filter_metadata": {FILTER_NAME: {TIMEOUT_KEY: milliseconds}}}
