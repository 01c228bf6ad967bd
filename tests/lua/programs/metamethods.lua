-- metamethods.lua: arithmetic, comparison, index/newindex, call, concat, len, tostring, close
local V = {}
V.__index = V
local function vec(x, y) return setmetatable({ x = x, y = y }, V) end
V.__add = function(a, b) return vec(a.x + b.x, a.y + b.y) end
V.__sub = function(a, b) return vec(a.x - b.x, a.y - b.y) end
V.__mul = function(a, b) if type(a) == "number" then return vec(a * b.x, a * b.y) end return vec(a.x * b, a.y * b) end
V.__unm = function(a) return vec(-a.x, -a.y) end
V.__eq = function(a, b) return a.x == b.x and a.y == b.y end
V.__lt = function(a, b) return a.x * a.x + a.y * a.y < b.x * b.x + b.y * b.y end
V.__le = function(a, b) return not (b < a) end
V.__tostring = function(a) return "(" .. a.x .. "," .. a.y .. ")" end
V.__concat = function(a, b) return tostring(a) .. tostring(b) end
V.__len = function(a) return 2 end
V.__call = function(a, k) return a[k] end
V.__idiv = function(a, n) return vec(a.x // n, a.y // n) end
V.__mod = function(a, n) return vec(a.x % n, a.y % n) end
V.__band = function(a, b) return vec(a.x & b.x, a.y & b.y) end
V.__shl = function(a, n) return vec(a.x << n, a.y << n) end
V.__bnot = function(a) return vec(~a.x, ~a.y) end
function V:norm1() return math.abs(self.x) + math.abs(self.y) end
local a, b = vec(1, 2), vec(3, 4)
print(tostring(a + b), tostring(a - b), tostring(a * 2), tostring(3 * a), tostring(-a))
print(a == vec(1, 2), a ~= b, a < b, a <= b, b < a, #a, a("y"), a:norm1())
print(a .. b, a .. "!", tostring(b // 2), tostring(b % 3), tostring(a & b), tostring(a << 2), tostring(~a))
local log = {}
local proxy = setmetatable({}, {
  __index = function(t, k) log[#log + 1] = "get " .. tostring(k) return k .. "!" end,
  __newindex = function(t, k, v) log[#log + 1] = "set " .. tostring(k) rawset(t, k, v) end,
})
print(proxy.foo, proxy.bar) proxy.baz = 1 proxy.baz = 2
print(table.concat(log, ", "), rawget(proxy, "baz"))
local ro = setmetatable({}, { __index = { a = 1 }, __newindex = function() error("read-only table", 2) end })
print(ro.a, pcall(function() ro.b = 2 end))
local mt = { __metatable = "locked" }
print(getmetatable(setmetatable({}, mt)), pcall(setmetatable, setmetatable({}, mt), {}))
print(getmetatable("").__index == string, ("x"):rep(2))
