-- strings.lua: string library basics, format, rep, byte/char, case, reverse
local s = "Hello, Lua World"
print(#s, s:upper(), s:lower(), s:reverse())
print(s:sub(1, 5), s:sub(-5), s:sub(3, -3), s:byte(1, 3))
print(string.char(72, 105), ("ab"):rep(3, "-"), ("x"):rep(0))
print(string.format("%5d|%-5d|%05.1f|%x|%X|%o|%e|%g", 42, 42, 3.14159, 255, 255, 8, 12345.678, 0.0001))
print(string.format("%q", 'a "quoted"\n\0 string'), string.format("%q", 1/3), string.format("%q", math.mininteger))
print(string.format("%s %s %s", nil, true, 12.5), string.format("%10.3s|", "abcdef"), string.format("%%"))
print(("%d items"):format(3), tostring(1e100), tostring(-0.0), 2^63, math.maxinteger + 0.0)
local parts = {}
for i = 1, 50 do parts[#parts + 1] = string.format("%02d", i * 7 % 100) end
print(table.concat(parts, ","))
print(("  trim me  "):match("^%s*(.-)%s*$") .. "|", ("a,b,,c"):find(",,"), ("abc"):len())
local big = {}
for i = 1, 2000 do big[i] = tostring(i) end
local joined = table.concat(big)
print(#joined, joined:sub(1000, 1020))
