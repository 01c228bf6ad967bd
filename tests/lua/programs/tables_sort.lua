-- tables_sort.lua: table library, sort with comparators, insert/remove/move/unpack
local t = {}
for i = 1, 200 do t[i] = (i * 7919) % 1009 end
table.sort(t)
print(t[1], t[2], t[100], t[200], #t)
table.sort(t, function(a, b) return a > b end)
print(t[1], t[200])
local words = { "pear", "Apple", "banana", "cherry", "apple", "Banana" }
table.sort(words)
print(table.concat(words, " "))
table.sort(words, function(a, b) return a:lower() < b:lower() or (a:lower() == b:lower() and a < b) end)
print(table.concat(words, " "))
local q = { 1, 2, 3 }
table.insert(q, 4); table.insert(q, 1, 0); print(table.concat(q, ","), table.remove(q), table.remove(q, 1), table.concat(q, ","))
print(table.unpack({ 1, 2, 3, nil, 5 }, 1, 5))
print(select("#", table.unpack({}, 1, 3)), table.pack(1, nil, 3).n)
local m = table.move({ 1, 2, 3, 4, 5 }, 2, 4, 1)
print(table.concat(m, ","))
local recs = {}
for i = 1, 100 do recs[i] = { name = "r" .. (i % 10), v = (i * 37) % 101 } end
table.sort(recs, function(a, b) if a.name ~= b.name then return a.name < b.name end return a.v < b.v end)
print(recs[1].name, recs[1].v, recs[100].name, recs[100].v)
local keys = {}
for k in pairs({ z = 1, a = 2, m = 3, [1] = 4, [2] = 5 }) do keys[#keys + 1] = tostring(k) end
table.sort(keys) print(table.concat(keys, " "))
print(pcall(table.sort, { 3, 1, "x" }))
print(#{ n = 1 }, next({}), rawlen({ 1, 2 }), rawequal(t, t), rawget({ a = 1 }, "a"))
