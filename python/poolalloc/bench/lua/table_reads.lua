-- group: compute
-- table_reads.lua -- compute only: reads of an array part, a hash part and
-- nested records built once before the timed loops, which allocate
-- nothing.  The tables are small enough (about 310 kB) to stay in the
-- cache: with 10 times as many (3.5 MB) they did not, and the run's
-- speed then followed where the allocator had put them (1.15x stock
-- under poollua and under mimalloc alike), not the VM.  Arg 1 scales the
-- passes.  Each pass's sums must equal their closed forms, else an error
-- is raised.
local scale = tonumber(arg and arg[1]) or 1
local N = 1000
local arr, hash, recs = {}, {}, {}
for i = 1, N do
  arr[i] = i
  hash["k" .. i] = i * 2
  recs[i] = { a = i, b = { c = i * 3 } }
end
local keys = {}
for i = 1, N do keys[i] = "k" .. i end
local passes = math.max(1, math.floor(7000 * scale))
local want = N * (N + 1) // 2
local total = 0
for _ = 1, passes do
  local s1, s2, s3 = 0, 0, 0
  for i = 1, N do s1 = s1 + arr[i] end
  for i = 1, N do s2 = s2 + hash[keys[i]] end
  for i = 1, N do local r = recs[i]; s3 = s3 + r.a + r.b.c end
  if s1 ~= want or s2 ~= 2 * want or s3 ~= 4 * want then error("table sums differ from their closed forms") end
  total = total + s1 + s2 + s3
end
return total
