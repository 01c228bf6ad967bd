-- group: compute
-- compute.lua -- compute only: integer and float arithmetic in loops over
-- preallocated locals; allocates next to nothing.  Arg 1 scales.
-- Run through run.lua, which prints the checksum it returns.
local scale = tonumber(arg and arg[1]) or 1
local n = math.floor(15000000 * scale)
local a, b, x = 0, 1, 0.5
for i = 1, n do
  a = (a * 31 + i) % 1000003
  b = b ~ (i << 3) & 0xffffff
  x = x * 0.999999 + (i % 7) * 1e-6
end
local fib = { 0, 1 }
for i = 3, 90 do fib[i] = fib[i - 1] + fib[i - 2] end
return a + b + math.floor(x * 1000) + fib[90] % 1000
