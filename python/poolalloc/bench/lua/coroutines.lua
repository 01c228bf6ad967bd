-- group: micro
-- coroutines.lua -- allocation-heavy: short-lived coroutines (threads with
-- their own stacks) passing values back and forth.  Arg 1 scales.
-- Run through run.lua, which prints the checksum it returns.
local scale = tonumber(arg and arg[1]) or 1
local n = math.floor(300000 * scale)
local sum = 0
for i = 1, n do
  local co = coroutine.wrap(function(a)
    for k = 1, 5 do a = coroutine.yield(a + k) end
    return a
  end)
  local v = co(i)
  for _ = 1, 5 do v = co(v % 1000) end
  sum = sum + v
end
local gen = coroutine.wrap(function() for i = 1, n * 3 do coroutine.yield({ i }) end end)
for _ = 1, n * 3 do sum = sum + gen()[1] % 3 end
return sum
