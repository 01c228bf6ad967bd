-- group: compute
-- format_cached.lua -- compute only: string.format of integers, floats and
-- hex, parsed back at once, as string_format.lua does, but of 1000 values
-- whose formatted strings are kept alive in a table made first: a short
-- string is interned, so each format finds its result already there and
-- the loop allocates nothing (string_format.lua makes 1.2 million new
-- strings and is a micro workload).  Arg 1 scales.  Every formatted value
-- must read back equal and be the kept string, else an error is raised.
local scale = tonumber(arg and arg[1]) or 1
local format, tonumber = string.format, tonumber
local M = 1000
local keep = {}
for v = 0, M - 1 do keep[v] = { format("%d", v), format("%x", v), format("%.3f", v / 8) } end
local n = math.floor(400000 * scale)
local sum = 0
for i = 1, n do
  local v = i * 37 % M
  local d = format("%d", v)
  local x = format("%x", v)
  local f = format("%.3f", v / 8)
  if tonumber(d) ~= v or tonumber(x, 16) ~= v or tonumber(f) ~= v / 8 then
    error("format round trip failed for " .. v)
  end
  local k = keep[v]
  if d ~= k[1] or x ~= k[2] or f ~= k[3] then error("format of " .. v .. " changed") end
  sum = sum + #d + #x + #f
end
return sum
