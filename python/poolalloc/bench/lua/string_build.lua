-- group: micro
-- string_build.lua -- allocation-heavy: strings made by concatenation,
-- string.format, rep/sub and table.concat.  Arg 1 scales the work.
-- Run through run.lua, which prints the checksum it returns.
local scale = tonumber(arg and arg[1]) or 1
local n = math.floor(300000 * scale)
local total = 0
local parts = {}
for i = 1, n do
  local s = "item" .. i .. ":" .. (i * 7 % 1000)
  s = string.format("%s/%05d", s, i % 99991)
  parts[#parts + 1] = s:sub(2, -2)
  if #parts == 1000 then
    local joined = table.concat(parts, ",")
    total = total + #joined
    parts = {}
  end
end
local acc = ""
for i = 1, math.floor(20000 * scale) do
  acc = acc .. string.char(65 + i % 26)
  if #acc > 200 then total = total + #acc; acc = "" end
end
return total
