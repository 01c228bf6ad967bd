-- load_chunks.lua: load with strings/functions/env/mode, string.dump, dofile-less chunks
local f = load("return 1 + ...")
print(f(41))
local parts = { "return ", "'pie", "ces'" }
local i = 0
print(load(function() i = i + 1 return parts[i] end)())
local env = { x = 5 }
print(load("x = x * 2 return x", "chunk", "t", env)(), env.x, x)
print(load("syntax error here"))
print(load("return 1", "=named", "b"))
local dumped = string.dump(function(a) return a * 3 end)
print(type(dumped), load(dumped, "d", "b")(7))
print(pcall(load(dumped, "d", "t")))
local fn, err = load("local a <const> = 1; a = 2")
print(fn, err)
local big = {}
for k = 1, 300 do big[#big + 1] = "local v" .. k .. " = " .. k end
big[#big + 1] = "return v1 + v300"
print(#big, pcall(load(table.concat(big, "\n"))))
local code = "local t = {} for i = 1, 10 do t[i] = i * i end return table.concat(t, ' ')"
print(load(code)())
print(select("#", load("return")()), (load("return ...", "va"))(1, 2, 3))
print(string.format("%s", load("return _ENV")() == _G), rawequal(load("return _G")(), _G))
