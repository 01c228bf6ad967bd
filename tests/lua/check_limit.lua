-- check_limit.lua: a script past its state's limit gets a catchable "not
-- enough memory" and goes on (poollua without POOLLUA_LIMIT, or stock
-- lua5.4 after install(): scripts may set the limit).  Prints "ok <checks>".
local pa = require "poolalloc"
pa.install()
local checks = 0
local function check(cond, ...)
  checks = checks + 1
  if not cond then error(string.format(...), 2) end
end
check(pa.limit() == 0, "no limit at first")
collectgarbage()
local live = pa.stats().live_bytes
local cap = live + 256 * 1024
check(pa.limit(cap) == 0, "limit returns the previous one")
check(pa.limit() == cap and pa.stats().limit == cap, "limit reads back")
for attempt = 1, 3 do
  local ok, err = pcall(function()
    local t = {}
    for i = 1, 1e7 do t[i] = ("z"):rep(40) .. i end
  end)
  check(not ok and err == "not enough memory", "attempt %d: %s", attempt, tostring(err))
  local s = pa.stats()
  check(s.peak_bytes <= cap, "peak %d within the limit %d", s.peak_bytes, cap)
  collectgarbage()
end
local ok, err = pcall(string.rep, "x", 1024 * 1024)
check(not ok and err == "not enough memory", "one big string: %s", tostring(err))
local small = {}
for i = 1, 100 do small[i] = i * 2 end
check(#small == 100 and small[100] == 200, "the state works after the failures")
check(pa.limit(0) == cap, "limit(0) removes it")
local big = ("x"):rep(4 * 1024 * 1024)
check(#big == 4194304, "no limit any more")
print("ok " .. checks)
