-- group: micro
-- string_format.lua -- short strings made and dropped: string.format of
-- integers, floats and hex into new short strings that are parsed back at
-- once.  Each result is a new string (1.2 million, 2.4 million lua_Alloc
-- calls at scale 1, as many a second as string_build.lua), so this is an
-- allocation pattern, not a control; format_cached.lua is its
-- compute-only twin.  Arg 1 scales.  Every formatted value must read
-- back equal, else an error is raised.
local scale = tonumber(arg and arg[1]) or 1
local format, tonumber = string.format, tonumber
local n = math.floor(400000 * scale)
local sum = 0
for i = 1, n do
  local v = i * 37 % 100003
  local d = format("%d", v)
  local x = format("%x", v)
  local f = format("%.3f", v / 8)
  if tonumber(d) ~= v or tonumber(x, 16) ~= v or tonumber(f) ~= v / 8 then
    error("format round trip failed for " .. v)
  end
  sum = sum + #d + #x + #f
end
return sum
