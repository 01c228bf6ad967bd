-- patterns.lua: find, match, gmatch, gsub with captures, classes, %b, %f
local text = "The quick brown fox jumps over 13 lazy dogs at 10:45 on 2024-05-06."
print(text:find("quick"), text:find("o", 1, true), text:find("%d+"))
print(text:match("(%d+):(%d+)"), text:match("(%d+)-(%d+)-(%d+)"))
for w in text:gmatch("%a+") do io.write(w:sub(1, 2), " ") end print()
print(text:gsub("%w+", function(w) return #w > 4 and w:upper() or nil end))
print(("hello world"):gsub("o", "0", 1), ("abc"):gsub("", "-"))
print(("key=val; k2=v2"):gsub("(%w+)=(%w+)", "%2=%1"))
print(("f(a(b)c)d"):match("%b()"), ("THE (quick) fox"):find("%f[%a]%a+%f[%A]", 5))
local t = {}
for k, v in ("a=1, b=2, c=3"):gmatch("(%w+)=(%w+)") do t[#t + 1] = k .. v end
print(table.concat(t, ";"))
print(("x = 10"):gsub("(%w+) = (%w+)", { x = "X" }), ("$name is $age"):gsub("%$(%w+)", { name = "Bob", age = 42 }))
print(pcall(string.rep), pcall(string.find, "a", "[a"))
print(("  multiple   spaces  "):gsub("%s+", " "), ("CamelCaseString"):gsub("(%u)", " %1"))
print(string.find("abc", "b", -10), ("aaa"):match("a-b"), ("aaab"):match("a-b"), ("[test]"):match("^%[(.*)%]$"))
