-- gc_stress.lua: many objects of every type made and dropped, counts
-- checked after full collections (results must not depend on the allocator)
local keep = {}
for round = 1, 5 do
  local objs = {}
  for i = 1, 20000 do
    local k = i % 5
    if k == 0 then objs[i] = { i, i + 1 }
    elseif k == 1 then objs[i] = "s" .. i .. "r" .. round
    elseif k == 2 then objs[i] = function() return i end
    elseif k == 3 then objs[i] = coroutine.create(function() return i end)
    else objs[i] = setmetatable({}, { __mode = "k" }) end
  end
  keep[round] = objs[round * 100]
  objs = nil
  collectgarbage()
end
print(#keep, type(keep[1]), type(keep[2]))
collectgarbage("generational")
local t = {}
for i = 1, 100000 do t[i % 1000 + 1] = { i } end
collectgarbage("incremental")
collectgarbage("setpause", 100)
local s = {}
for i = 1, 50000 do s[#s + 1] = tostring(i) if #s > 100 then s = {} end end
collectgarbage()
print(t[1][1], #s, collectgarbage("count") > 0)
local big = {}
for i = 1, 200 do big[i] = string.rep("x", i * 1000) end
big = nil
collectgarbage()
local huge = string.rep("ab", 2 ^ 20)
print(#huge, huge:sub(-4))
