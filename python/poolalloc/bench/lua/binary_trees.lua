-- group: micro
-- binary_trees.lua -- allocation-heavy: build and walk many binary trees
-- (the classic benchmark).  Arg 1 scales the work; returns a checksum.
-- Run through run.lua, which prints the checksum it returns.
local scale = tonumber(arg and arg[1]) or 1
local function make(d)
  if d == 0 then return {} end
  d = d - 1
  return { make(d), make(d) }
end
local function check(t)
  if t[1] then return 1 + check(t[1]) + check(t[2]) end
  return 1
end
local maxd = math.max(6, math.floor(15 + math.log(scale, 2)))
local long = make(maxd)
local sum = 0
for d = 4, maxd, 2 do
  local iters = 1 << (maxd - d + 4)
  for _ = 1, iters do sum = sum + check(make(d)) end
end
sum = sum + check(long)
return sum
