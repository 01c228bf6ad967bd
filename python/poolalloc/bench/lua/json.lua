-- group: program
-- json.lua -- a JSON encoder and decoder: documents of records, arrays,
-- nested objects and escaped strings are encoded with a string builder,
-- decoded back with a recursive-descent parser, and compared deeply.  Arg 1
-- scales the work; a round trip that differs raises an error.
local scale = tonumber(arg and arg[1]) or 1
local concat, char, byte, sub, find, format = table.concat, string.char, string.byte, string.sub, string.find, string.format

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\t'] = '\\t', ['\r'] = '\\r' }

-- Encode v into the buffer out (a list of pieces); keys sorted for a stable text.
local function encode(v, out)
  local t = type(v)
  if t == "table" then
    if v[1] ~= nil or next(v) == nil then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        encode(k, out)
        out[#out + 1] = ":"
        encode(v[k], out)
      end
      out[#out + 1] = "}"
    end
  elseif t == "string" then
    out[#out + 1] = '"' .. v:gsub('[%c"\\]', escapes) .. '"'
  elseif t == "number" then
    local text = math.type(v) == "integer" and tostring(v) or format("%.17g", v)
    if math.type(v) == "float" and not find(text, "[.eEn]") then text = text .. ".0" end
    out[#out + 1] = text
  elseif t == "boolean" then
    out[#out + 1] = v and "true" or "false"
  else
    error("cannot encode " .. t)
  end
end

-- Decoder: returns the value at position i and the position after it.
local decode
local unescapes = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/" }
local function skip(s, i) return find(s, "[^ \n\r\t]", i) end
local function decode_string(s, i)
  local parts, j = {}, i + 1
  while true do
    local k = find(s, '["\\]', j)
    if not k then error("unterminated string at " .. i) end
    parts[#parts + 1] = sub(s, j, k - 1)
    if byte(s, k) == 34 then return concat(parts), k + 1 end
    local e = sub(s, k + 1, k + 1)
    parts[#parts + 1] = assert(unescapes[e], "bad escape")
    j = k + 2
  end
end
function decode(s, i)
  i = skip(s, i)
  local c = byte(s, i)
  if c == 123 then                                  -- {
    local obj = {}
    i = skip(s, i + 1)
    if byte(s, i) == 125 then return obj, i + 1 end
    while true do
      local k
      k, i = decode_string(s, skip(s, i))
      i = skip(s, i)
      assert(byte(s, i) == 58, "colon expected")
      obj[k], i = decode(s, i + 1)
      i = skip(s, i)
      c = byte(s, i)
      if c == 125 then return obj, i + 1 end
      assert(c == 44, "comma expected")
      i = i + 1
    end
  elseif c == 91 then                               -- [
    local arr, n = {}, 0
    i = skip(s, i + 1)
    if byte(s, i) == 93 then return arr, i + 1 end
    while true do
      n = n + 1
      arr[n], i = decode(s, i)
      i = skip(s, i)
      c = byte(s, i)
      if c == 93 then return arr, i + 1 end
      assert(c == 44, "comma expected")
      i = i + 1
    end
  elseif c == 34 then
    return decode_string(s, i)
  elseif c == 116 then return true, i + 4
  elseif c == 102 then return false, i + 5
  else
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    return tonumber(num), i + #num
  end
end

-- Deep equality of decoded and original values.
local function equal(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b and math.type(a) == math.type(b) end
  for k, v in pairs(a) do if not equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

-- A document like an API response: users with tags, addresses and history.
local function document(seed, n)
  local users = {}
  for i = 1, n do
    local id = seed * 1000 + i
    local hist = {}
    for h = 1, i % 7 do hist[h] = { t = id * 10 + h, amount = (id % 97) * 0.25 + h, ok = h % 2 == 0 } end
    users[i] = {
      id = id, name = "user \"" .. id .. "\"\n", email = "u" .. id .. "@example.org",
      tags = { "t" .. id % 5, "g" .. id % 3, "x\\y" },
      address = { street = id .. " Main St", city = "City" .. id % 13, zip = format("%05d", id % 99999) },
      history = hist, active = id % 3 ~= 0, score = id / 7,
    }
  end
  return { page = seed, total = n, users = users, meta = { version = "1.0", empty = {} } }
end

local docs = math.max(1, math.floor(120 * scale))
local total = 0
for d = 1, docs do
  local doc = document(d, 60)
  local out = {}
  encode(doc, out)
  local text = concat(out)
  local back, pos = decode(text, 1)
  if pos ~= #text + 1 or not equal(doc, back) then error("json round trip differs for document " .. d) end
  local out2 = {}
  encode(back, out2)
  if concat(out2) ~= text then error("json re-encoding differs for document " .. d) end
  total = total + #text + #back.users
end
return total
