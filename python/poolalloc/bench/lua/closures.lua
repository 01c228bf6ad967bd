-- group: micro
-- closures.lua -- allocation-heavy: closures with upvalues created and
-- called in a loop (function, upvalue and table objects).  Arg 1 scales.
-- Run through run.lua, which prints the checksum it returns.
local scale = tonumber(arg and arg[1]) or 1
local n = math.floor(1500000 * scale)
local function counter(start)
  local c = start
  return function(step) c = c + step; return c end
end
local function compose(f, g) return function(x) return f(g(x)) end end
local sum = 0
for i = 1, n do
  local f = counter(i)
  local g = compose(f, function(x) return x * 2 end)
  sum = sum + g(1) % 1000
end
return sum
