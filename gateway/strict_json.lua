-- The edge's strict JSON check: refuse a REST body with a key its request
-- message does not have, at any depth, before the transcoder drops it
-- silently (envoy#46623). gateway/strict_json.py puts the contracts' tables
-- in front of this text:
--   MESSAGES[name][key] = true (any value) | "pkg.Message" (an object, or an
--     array of them) | {"pkg.Message"} (a map: any keys, each value a message)
--   BINDINGS[verb] = {{lua pattern, kind or false (unchecked), field path}, ...}
-- It only reads keys: values, and JSON that does not parse, are left to the
-- transcoder, which answers them as it always has. So the scanner is lenient:
-- what it cannot read it lets through rather than refuse wrongly. gRPC calls
-- and verbs without a checked body never reach it (the filter's matcher).

local byte, find, sub, char = string.byte, string.find, string.sub, string.char
local concat, tonumber = table.concat, tonumber

-- Past it the scanner gives up; the transcoder's parser refuses such a body
-- too (tests/integration/test_edge_strict_json.py holds it to that).
local MAX_DEPTH = 100
local MAX_REPORTED = 20 -- violations named in one reply
local QUOTE, APOSTROPHE, BACKSLASH = 34, 39, 92
local OPEN_OBJECT, CLOSE_OBJECT, OPEN_ARRAY, CLOSE_ARRAY = 123, 125, 91, 93
local COMMA, COLON = 44, 58
local ESCAPES = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

-- Any ASCII space, \v and \f included: protobuf's parser skips those too.
local function skip_space(s, i)
  local _, last = find(s, "^%s*", i)
  return last + 1
end

local function utf8(code)
  if code >= 0xD800 and code <= 0xDFFF then
    code = 0xFFFD -- half a surrogate pair: no field name has one, and the reply stays UTF-8
  end
  if code < 0x80 then
    return char(code)
  elseif code < 0x800 then
    return char(0xC0 + math.floor(code / 0x40), 0x80 + code % 0x40)
  end
  return char(0xE0 + math.floor(code / 0x1000), 0x80 + math.floor(code / 0x40) % 0x40,
    0x80 + code % 0x40)
end

local function unescape(text)
  local parts, i = {}, 1
  while true do
    local k = find(text, "\\", i, true)
    if k == nil then
      parts[#parts + 1] = sub(text, i)
      return concat(parts)
    end
    parts[#parts + 1] = sub(text, i, k - 1)
    local c = sub(text, k + 1, k + 1)
    local hex = c == "u" and text:match("^%x%x%x%x", k + 2)
    if hex then
      parts[#parts + 1], i = utf8(tonumber(hex, 16)), k + 6
    else
      parts[#parts + 1], i = ESCAPES[c] or c, k + 2
    end
  end
end

-- A string (double or single quoted, as protobuf's parser allows) starting at
-- i: the index after it and whether it holds escapes, or nil when it never ends.
local function skip_string(s, i)
  local stop = byte(s, i) == QUOTE and '["\\]' or "['\\]"
  local j, escaped = i + 1, false
  while true do
    local k = find(s, stop, j)
    if k == nil then
      return nil
    end
    if byte(s, k) ~= BACKSLASH then
      return k + 1, escaped
    end
    escaped, j = true, k + 2
  end
end

local check_value

-- An object at i. `kind` says what its keys may be: a message's own fields, a
-- map's any keys (each value of one kind), or anything at all.
local function check_object(s, i, kind, path, depth, found)
  local fields, values = nil, true
  if type(kind) == "string" then
    fields = MESSAGES[kind]
  elseif type(kind) == "table" then
    values = kind[1]
  end
  i = skip_space(s, i + 1)
  if byte(s, i) == CLOSE_OBJECT then
    return i + 1
  end
  while true do
    local key, j
    local c = byte(s, i)
    if c == QUOTE or c == APOSTROPHE then
      local escaped
      j, escaped = skip_string(s, i)
      if j ~= nil then
        key = sub(s, i + 1, j - 2)
        key = escaped and unescape(key) or key
      end
    else -- an unquoted key, which protobuf's parser also takes
      local _, last = find(s, "^[%w_$]+", i)
      if last ~= nil then
        j, key = last + 1, sub(s, i, last)
      end
    end
    if j == nil then
      return nil
    end
    j = skip_space(s, j)
    if byte(s, j) ~= COLON then
      return nil
    end
    local child, child_path = values, nil -- the path of a value that is not checked is not built
    if fields ~= nil then
      child = fields[key]
      if child == nil then
        child = true
        if #found < MAX_REPORTED then
          found[#found + 1] = { path = path .. key, key = key, message = kind }
        end
        found.count = found.count + 1
      end
    end
    if child ~= true then
      child_path = fields ~= nil and path .. key .. "."
        or path:sub(1, -2) .. '["' .. key .. '"].'
    end
    j = check_value(s, skip_space(s, j + 1), child, child_path, depth + 1, found)
    if j == nil then
      return nil
    end
    j = skip_space(s, j)
    c = byte(s, j)
    if c == CLOSE_OBJECT then
      return j + 1
    elseif c ~= COMMA then
      return nil
    end
    i = skip_space(s, j + 1)
    if byte(s, i) == CLOSE_OBJECT then -- a trailing comma, which protobuf's parser takes
      return i + 1
    end
  end
end

local function check_array(s, i, kind, path, depth, found)
  i = skip_space(s, i + 1)
  if byte(s, i) == CLOSE_ARRAY then
    return i + 1
  end
  local index = 0
  while true do
    local element_path = kind ~= true and path:sub(1, -2) .. "[" .. index .. "]." or nil
    i = check_value(s, i, kind, element_path, depth + 1, found)
    if i == nil then
      return nil
    end
    i = skip_space(s, i)
    local c = byte(s, i)
    if c == CLOSE_ARRAY then
      return i + 1
    elseif c ~= COMMA then
      return nil
    end
    i, index = skip_space(s, i + 1), index + 1
    if byte(s, i) == CLOSE_ARRAY then -- a trailing comma
      return i + 1
    end
  end
end

-- The value at i: the index after it, or nil when the JSON does not parse.
-- `path` is the value's own path followed by a dot ("items[0].").
check_value = function(s, i, kind, path, depth, found)
  if depth > MAX_DEPTH then
    return nil
  end
  local c = byte(s, i)
  if c == OPEN_OBJECT then
    return check_object(s, i, kind, path, depth, found)
  elseif c == OPEN_ARRAY then
    return check_array(s, i, kind, path, depth, found)
  elseif c == QUOTE or c == APOSTROPHE then
    return (skip_string(s, i))
  end
  local _, last = find(s, "^[-+%w%.]+", i) -- a number, true, false, null
  return last and last + 1
end

local function json_string(text)
  return '"' .. text:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", byte(c))
  end) .. '"'
end

local function refusal(found, request_id)
  local violations, names = {}, {}
  for n, violation in ipairs(found) do
    local description = "unknown field " .. violation.key .. " in " .. violation.message
    violations[n] = '{"field":' .. json_string(violation.path)
      .. ',"description":' .. json_string(description) .. "}"
    names[n] = violation.path
  end
  local message = found.count == 1 and "unknown field in the JSON body: "
    or found.count .. " unknown fields in the JSON body: "
  message = message .. concat(names, ", ") .. (found.count > #found and ", ..." or "")
  return '{"code":3,"message":' .. json_string(message) .. ',"details":['
    .. '{"@type":"type.googleapis.com/google.rpc.BadRequest","field_violations":['
    .. concat(violations, ",") .. "]},"
    .. '{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"INVALID_ARGUMENT",'
    .. '"domain":"edge.protomesh","metadata":{"envoy":"strict_json_unknown_field",'
    .. '"request_id":' .. json_string(request_id or "") .. "}}]}"
end

local function binding_of(verb, path)
  local candidates = BINDINGS[verb]
  if candidates == nil then
    return nil
  end
  path = path:match("^[^?#]*")
  for _, binding in ipairs(candidates) do
    if find(path, binding[1]) then
      return binding
    end
  end
end

function envoy_on_request(handle)
  local headers = handle:headers()
  local binding = binding_of(headers:get(":method"), headers:get(":path"))
  if binding == nil or not binding[2] then
    return
  end
  local body = handle:body()
  if body == nil then
    return
  end
  local s = body:getBytes(0, body:length())
  local prefix = binding[3] == "" and "" or binding[3] .. "."
  local found = { count = 0 }
  local i = skip_space(s, 1)
  local last = check_value(s, i, binding[2], prefix, 1, found)
  if last == nil or skip_space(s, last) <= #s or found.count == 0 then
    return -- clean, or not JSON the transcoder will take: its error, as before
  end
  -- The edge's local replies reformat every refusal; this one is already
  -- google.rpc.Status JSON, and the metadata tells them to leave it as it is.
  handle:streamInfo():dynamicMetadata():set("protomesh.edge", "formatted", true)
  handle:respond(
    { [":status"] = "400", ["content-type"] = "application/json" },
    -- handle:headers() again: a header map object is invalid once the script has yielded.
    refusal(found, handle:headers():get("x-request-id"))
  )
end
