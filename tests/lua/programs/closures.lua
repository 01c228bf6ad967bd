-- closures.lua: upvalues shared between closures, counters, memoize, loops capturing
local function counter()
  local n = 0
  return function() n = n + 1 return n end, function() return n end
end
local inc, get = counter()
inc() inc() inc()
print(get())
local fs = {}
for i = 1, 5 do fs[i] = function() return i * 10 end end
print(fs[1](), fs[3](), fs[5]())
local acc = {}
local x = 0
while x < 3 do x = x + 1 local y = x acc[x] = function() y = y + 1 return y end end
print(acc[1](), acc[1](), acc[2](), acc[3]())
local function memo(f)
  local cache = {}
  return function(n) local v = cache[n] if v == nil then v = f(n) cache[n] = v end return v end
end
local fib
fib = memo(function(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end)
print(fib(80))
local function curry(f) return function(a) return function(b) return f(a, b) end end end
print(curry(math.max)(3)(9), curry(string.rep)("ab")(3))
local function compose(...)
  local fns = { ... }
  return function(v) for i = #fns, 1, -1 do v = fns[i](v) end return v end
end
print(compose(function(v) return v + 1 end, function(v) return v * 2 end)(5))
local s = 0
for i = 1, 10000 do local f = function() return i end s = s + f() end
print(s, debug.getupvalue(inc, 1))
