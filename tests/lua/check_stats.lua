-- check_stats.lua: poolalloc.stats() is exact, under poollua and under
-- stock lua5.4 after poolalloc.install().  Prints "ok <checks>".
local pa = require "poolalloc"
local installed = pa.install()          -- false in poollua: already on libpool
local checks = 0
local function check(cond, ...)
  checks = checks + 1
  if not cond then error(string.format(...), 2) end
end

-- Lua's count == the heap's live bytes (+ blocks the previous allocator
-- still holds, in an installed state), read with nothing allocated between.
local function exact(where)
  local lua_bytes = collectgarbage("count") * 1024
  local s = pa.stats()
  check(s.live_bytes + s.foreign_bytes == lua_bytes, "%s: live %d + foreign %d ~= count %d", where,
        s.live_bytes, s.foreign_bytes, lua_bytes)
  check(s.lua_bytes == lua_bytes, "%s: lua_bytes %d ~= %d", where, s.lua_bytes, lua_bytes)
  return s
end

pa.stats()                              -- warm up: the call's own CallInfo
local s0 = exact("start")
check(installed == (s0.foreign_bytes > 0), "foreign bytes only in an installed state")
check(math.type(s0.live_bytes) == "integer" and s0.peak_bytes >= s0.live_bytes, "peak >= live")
check(s0.reserved_bytes >= s0.live_bytes, "reserved >= live")
check(#s0.classes > 10 and s0.classes[1].size == 16, "classes start at 16 bytes")
local blocks = s0.large_blocks
for i, c in ipairs(s0.classes) do
  check(c.size > 0 and (i == 1 or c.size > s0.classes[i - 1].size), "class sizes increase")
  check(c.live_blocks + c.free_blocks <= c.pages * 65536 // c.size + c.pages, "blocks fit the pages")
  blocks = blocks + c.live_blocks
end
check(s0.allocs - s0.frees == blocks, "allocs - frees (%d) == live blocks (%d)", s0.allocs - s0.frees, blocks)
for _, k in ipairs({ "string", "table", "function", "userdata", "thread", "upvalue", "proto", "other" }) do
  check(math.type(s0.types[k]) == "integer", "types.%s", k)
end
check(s0.types.table > 0 and s0.types.string > 0 and s0.types["function"] > 0, "types counted")

-- Exact during a workload that allocates, grows and frees all kinds of objects.
local keep = {}
for round = 1, 40 do
  for i = 1, 500 do
    keep[#keep + 1] = { round, ("s%d_%d"):format(round, i), function() return i end }
  end
  if round % 3 == 0 then
    for i = 1, #keep, 2 do keep[i] = false end
  end
  local buf = {}
  for i = 1, 200 do buf[i] = ("x"):rep(i) end
  buf = table.concat(buf)
  exact("round " .. round)
  if round % 10 == 0 then collectgarbage() exact("after collect " .. round) end
end
keep = nil
collectgarbage()
exact("after dropping")

-- Counting by type and by call: with the collector stopped, N new tables
-- are N table allocations and N allocations; N new strings, N strings.
collectgarbage("stop")
local make_tables = load("local N = ... local t = {} for i = 1, N do t[i] = {} end return t")
local make_strings = load("local N, t = ... for i = 1, N do t[i] = ('\1'):rep(i + 1) end")
local holder = {}
for i = 1, 1000 do holder[i] = false end
local a = pa.stats()
local b = pa.stats()                    -- a stats() call's own cost, from a to b
-- (locals, not a table: a table here would count too)
local cost_table, cost_string, cost_allocs = b.types.table - a.types.table, b.types.string - a.types.string,
                                             b.allocs - a.allocs
check(cost_table == #b.classes + 3, "a stats() table holds %d tables, made %d", #b.classes + 3, cost_table)
local N = 777
local t = make_tables(N)                -- N tables + the array t, whose part grows
local c = pa.stats()
check(c.types.table - b.types.table == N + 1 + cost_table, "types.table grew by %d, expected %d",
      c.types.table - b.types.table, N + 1 + cost_table)
check(c.types.string - b.types.string == cost_string, "no new strings")
local grows = c.reallocs - b.reallocs
check(grows > 0, "the array part grew by realloc")
-- N + 1 tables, the array part's first block, and one block for each
-- realloc that moved to another size class (which frees the old one).
local moves = c.frees - b.frees
check(c.allocs - b.allocs == N + 1 + cost_allocs + 1 + moves, "allocs grew by %d, expected %d",
      c.allocs - b.allocs, N + 1 + cost_allocs + 1 + moves)
check(moves > 0 and moves <= grows, "moves %d, reallocs %d", moves, grows)
make_strings(N, holder)                 -- holder is big enough: no realloc
local d = pa.stats()
check(d.types.string - c.types.string == N + cost_string, "types.string grew by %d, expected %d",
      d.types.string - c.types.string, N + cost_string)
check(d.allocs - c.allocs == N + cost_allocs, "allocs for strings")
check(d.frees == c.frees, "no frees while the collector is stopped")
collectgarbage("restart")
t = nil
collectgarbage()
local e = exact("after collecting the tables")
check(e.frees - d.frees >= N, "the tables were freed")

-- peak and reset_peak
local big = {}
for i = 1, 2000 do big[i] = ("y"):rep(100) .. i end
local p1 = pa.stats().peak_bytes
big = nil
collectgarbage()
local s = pa.stats()
check(s.peak_bytes == p1 and s.peak_bytes > s.live_bytes, "peak stays after the drop")
pa.reset_peak()
s = pa.stats()
check(s.peak_bytes <= s.live_bytes + 65536 and s.peak_bytes < p1, "reset_peak: peak %d, live %d", s.peak_bytes,
      s.live_bytes)

-- report() and leaks()
local r = pa.report()
check(type(r) == "string" and r:find("live_bytes", 1, true) and r:find("class", 1, true), "report text")
local l = pa.leaks()
local lb = l.large_blocks
for _, c2 in ipairs(l.classes) do check(c2.live_blocks > 0, "only live classes") lb = lb + c2.live_blocks end
check(lb == l.live_blocks and l.live_bytes > 0, "leaks() adds up")
check(type(pa.version) == "string", "version")
print("ok " .. checks)
