-- coroutines.lua: create/resume/yield/status/wrap/isyieldable/close, generators
local function gen(n)
  return coroutine.wrap(function() for i = 1, n do coroutine.yield(i, i * i) end return "done" end)
end
local g = gen(4)
for _ = 1, 5 do print(g()) end
local co = coroutine.create(function(a, b)
  print("start", a, b, coroutine.isyieldable(), coroutine.running() ~= nil)
  local c = coroutine.yield(a + b)
  print("got", c)
  local d, e = coroutine.yield(c * 2)
  error("oops " .. tostring(d) .. tostring(e))
end)
print(coroutine.status(co), coroutine.resume(co, 1, 2))
print(coroutine.status(co), coroutine.resume(co, 10))
print(coroutine.resume(co, "x", "y"))
print(coroutine.status(co), coroutine.resume(co))
local c2 = coroutine.create(function() coroutine.yield() end)
coroutine.resume(c2)
print(coroutine.close(c2), coroutine.status(c2))
print(coroutine.isyieldable(), select("#", coroutine.running()))
-- producer/consumer
local prod = coroutine.create(function() for _, w in ipairs({ "a", "b", "c" }) do coroutine.yield(w) end end)
local out = {}
while true do
  local ok, v = coroutine.resume(prod)
  if not v then break end
  out[#out + 1] = v
end
print(table.concat(out), coroutine.status(prod))
-- many coroutines alive at once
local cs = {}
for i = 1, 300 do cs[i] = coroutine.wrap(function() local s = 0 while true do s = s + i coroutine.yield(s) end end) end
local total = 0
for _ = 1, 3 do for i = 1, 300 do total = total + cs[i]() end end
print(total)
local okc, ec = pcall(coroutine.wrap(function() error({ code = 7 }) end)) print(okc, type(ec), ec.code)
