-- weak_tables.lua: weak keys, weak values, ephemerons, caches
local wk = setmetatable({}, { __mode = "k" })
local wv = setmetatable({}, { __mode = "v" })
local keep = {}
for i = 1, 10 do
  local k = {}
  wk[k] = i
  wv[i] = {}
  if i % 2 == 0 then keep[#keep + 1] = k; keep[#keep + 1] = wv[i] end
end
collectgarbage() collectgarbage()
local n1, n2 = 0, 0
for _ in pairs(wk) do n1 = n1 + 1 end
for _ in pairs(wv) do n2 = n2 + 1 end
print(n1, n2)
local eph = setmetatable({}, { __mode = "k" })
do local a = {} eph[a] = { ref = a } end
collectgarbage()
print(next(eph) == nil)
local strs = setmetatable({}, { __mode = "v" })
strs[1] = "a string stays" strs[2] = 42 strs[3] = {}
collectgarbage()
print(strs[1], strs[2], strs[3])
local cache = setmetatable({}, { __mode = "kv" })
for i = 1, 1000 do cache[{}] = {} end
collectgarbage()
print(next(cache) == nil, getmetatable(cache).__mode)
