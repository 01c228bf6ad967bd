-- tables_misc.lua: array/hash parts, length border, nested structures,
-- integer/float keys normalisation, next/pairs/ipairs, deep copy
local t = {}
for i = 1, 100 do t[i] = i end
for i = 1, 50 do t[i * 2] = nil end
local c = 0 for _ in pairs(t) do c = c + 1 end print(c)
local m = {} m[1.0] = "a" m[2] = "b" m[2^53] = "c"
print(m[1], m[2.0], math.type(next(m)), m[2^53 | 0])
local nested = { a = { b = { c = { d = "deep" } } } }
print(nested.a.b.c.d, #{ { {} } })
local function deepcopy(o, seen)
  if type(o) ~= "table" then return o end
  seen = seen or {}
  if seen[o] then return seen[o] end
  local r = {} seen[o] = r
  for k, v in pairs(o) do r[deepcopy(k, seen)] = deepcopy(v, seen) end
  return setmetatable(r, getmetatable(o))
end
local cyc = { name = "root" } cyc.self = cyc cyc.list = { 1, 2, { 3 } }
local cp = deepcopy(cyc)
print(cp ~= cyc, cp.self == cp, cp.list[3][1], cp.name)
local ip = 0 for i, v in ipairs({ 1, 2, nil, 4 }) do ip = ip + i end print(ip)
print(pcall(function() local x = {} x[nil] = 1 end))
print(pcall(function() local x = {} x[0/0] = 1 end))
local grid = {}
for y = 1, 50 do grid[y] = {} for x = 1, 50 do grid[y][x] = (x * y) % 10 end end
local s = 0 for y = 1, 50 do for x = 1, 50 do s = s + grid[y][x] end end print(s)
local set = {} for _, w in ipairs({ "a", "b", "a", "c", "b" }) do set[w] = (set[w] or 0) + 1 end
print(set.a, set.b, set.c)
local big = {} for i = 1, 100000 do big[i] = i end for i = 100000, 1, -1 do big[i] = nil end print(#big, next(big))
