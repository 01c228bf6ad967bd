-- string_pack.lua: string.pack/unpack/packsize with many formats
local p = string.pack("i4 i8 d s1 z B", -5, 1 << 40, 3.25, "abc", "zero", 255)
print(#p, string.unpack("i4 i8 d s1 z B", p))
print(string.packsize("i4 i8 d"), string.packsize("!8 i1 i8"), string.packsize("<i2 >i2 =i2"))
print(string.unpack("<I2", "\1\2"), string.unpack(">I2", "\1\2"), string.unpack("b", "\255"))
local parts = {}
for i = 1, 100 do parts[i] = string.pack(">I4", i * 1000003 % 4294967296) end
local blob = table.concat(parts)
local sum, pos = 0, 1
while pos <= #blob do local v v, pos = string.unpack(">I4", blob, pos) sum = sum + v end
print(#blob, sum)
print(pcall(string.pack, "i17", 1), pcall(string.unpack, "i4", "ab"))
print(string.unpack("s4", string.pack("s4", string.rep("x", 300))):len())
print(string.pack("j", math.mininteger):byte(1, -1))
print(string.format("%q", string.pack("f", 1.5)), string.unpack("f", string.pack("f", 1.5)))
