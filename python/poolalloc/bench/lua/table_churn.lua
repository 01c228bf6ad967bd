-- group: micro
-- table_churn.lua -- allocation-heavy: tables that grow, shrink and die,
-- hash and array parts, a rolling window of live tables.  Arg 1 scales.
-- Run through run.lua, which prints the checksum it returns.
local scale = tonumber(arg and arg[1]) or 1
local n = math.floor(400000 * scale)
local window, sum = {}, 0
for i = 1, n do
  local t = { id = i, name = "n" .. (i % 100), i, i + 1 }
  for k = 1, i % 13 do t[#t + 1] = k end
  t.extra = { x = i, y = -i }
  window[i % 5000 + 1] = t
  sum = sum + #t + t.extra.x % 7
end
local m = {}
for i = 1, math.floor(50000 * scale) do m[i % 777] = { i } ; m["k" .. (i % 333)] = i end
return sum
