-- goto_control.lua: goto, labels, continue idiom, nested breaks, numeric/generic for
for i = 1, 10 do
  if i % 3 == 0 then goto continue end
  io.write(i, " ")
  ::continue::
end
print()
do
  local i = 1
  ::top::
  if i <= 3 then io.write("loop", i, " ") i = i + 1 goto top end
  print()
end
for i = 1, 3 do for j = 1, 3 do if j == 2 then break end io.write(i, j, " ") end end print()
for i = 10, 1, -3 do io.write(i, " ") end print()
for i = 1.0, 2.0, 0.25 do io.write(i, " ") end print()
for i = math.maxinteger - 2, math.maxinteger do io.write(i, " ") end print()
local n = 0 repeat n = n + 1 local stop = n >= 4 until stop print(n)
while true do n = n + 1 if n > 10 then break end end print(n)
print(load("goto nowhere") == nil, select(2, load("goto nowhere")))
print(pcall(function() for i = 1, 10, 0 do end end))
