-- string_buffers.lua: building long strings many ways (concat chains,
-- table.concat, gsub expansion, rep), comparing the results
local a = ""
for i = 1, 2000 do a = a .. (i % 10) end
local t = {}
for i = 1, 2000 do t[i] = tostring(i % 10) end
local b = table.concat(t)
print(#a, a == b, a:sub(1, 20))
local c = ("0123456789"):rep(200)
print(c == ("1234567890"):rep(200), #c)
local d = ("x"):rep(5000):gsub("x", function() return "yz" end)
print(#d, d:sub(1, 6))
local lines = {}
for i = 1, 500 do lines[#lines + 1] = ("%4d: %s"):format(i, ("*"):rep(i % 40)) end
local doc = table.concat(lines, "\n")
print(#doc, select(2, doc:gsub("\n", "\n")), doc:match("250: (%*+)"))
local words = {}
for w in (("alpha beta gamma delta "):rep(1000)):gmatch("%a+") do words[#words + 1] = w end
print(#words, words[4001 - 1])
