-- utf8_lib.lua: utf8.char, charpattern, codes, codepoint, len, offset
local s = utf8.char(72, 228, 8364, 128512, 0x10FFFF)
print(#s, utf8.len(s), s:sub(1, 3))
for p, c in utf8.codes(s) do io.write(p, ":", c, " ") end print()
print(utf8.codepoint(s, 1, -1))
print(utf8.offset(s, 3), utf8.offset(s, -1), utf8.len("\xff"), utf8.len(s, 2))
for ch in s:gmatch(utf8.charpattern) do io.write(#ch, " ") end print()
print(pcall(utf8.codepoint, "\xff"), utf8.char(), utf8.len(""))
local t = {} for i = 0x3b1, 0x3c9 do t[#t + 1] = utf8.char(i) end
print(table.concat(t), utf8.len(table.concat(t)))
print(("héllo"):upper(), ("日本語"):len(), utf8.len("日本語"))
