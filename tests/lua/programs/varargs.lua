-- varargs.lua: ..., select, table.pack/unpack, nils in varargs, multiple returns
local function count(...) return select("#", ...) end
print(count(), count(nil), count(1, nil, 3, nil), count(table.unpack({ 1, 2, 3 })))
local function tail(...) return select(2, ...) end
print(tail(1, 2, 3), select(-1, 1, 2, 3), select(-2, "a", "b", "c"))
local function pass(...) return ... end
print(pass(1, nil, 3), (pass(1, 2, 3)))
local function sum(...) local s = 0 for i = 1, select("#", ...) do s = s + (select(i, ...) or 0) end return s end
print(sum(1, 2, nil, 4), sum())
local t = table.pack(pass(nil, nil, 5))
print(t.n, t[3])
local function mr() return 1, 2, 3 end
print(mr(), mr())
print(({ mr(), mr() })[4], #{ mr(), mr() }, (mr()))
local big = {} for i = 1, 200 do big[i] = i end
print(count(table.unpack(big)), sum(table.unpack(big)))
print(pcall(select, 0, 1), string.format("%d %s", pass(7, "x")))
local function varf(a, b, ...) return a, b, count(...) end
print(varf(1), varf(1, 2, 3, 4, 5))
