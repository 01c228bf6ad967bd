-- check_args.lua: bad arguments to the module raise errors with clear
-- messages.  Prints "ok <checks>".
local pa = require "poolalloc"
local checks = 0
local function raises(expect, f, ...)
  checks = checks + 1
  local ok, err = pcall(f, ...)
  if ok or not tostring(err):find(expect, 1, true) then
    error(("expected an error with %q, got %s, %s"):format(expect, tostring(ok), tostring(err)), 2)
  end
end
if not pa.install then error("no install") end
local onpool = pcall(pa.stats)
if not onpool then        -- stock lua5.4 before install(): a clear error
  raises("this state does not allocate from libpool (call poolalloc.install() first)", pa.stats)
  raises("does not allocate from libpool", pa.report)
  raises("does not allocate from libpool", pa.limit)
  raises("bad argument #1 to 'poolalloc.install' (no arguments expected)", pa.install, 1)
  assert(pa.install() == true)
  assert(pa.install() == false)
end
raises("bad argument #1 to 'poolalloc.stats' (no arguments expected)", pa.stats, {})
raises("bad argument #1 to 'poolalloc.report' (no arguments expected)", pa.report, 1)
raises("bad argument #1 to 'poolalloc.reset_peak' (no arguments expected)", pa.reset_peak, "x")
raises("bad argument #1 to 'poolalloc.leaks' (no arguments expected)", pa.leaks, true)
raises("bad argument #1 to 'poolalloc.limit' (number expected, got string)", pa.limit, "lots")
raises("bad argument #1 to 'poolalloc.limit' (number has no integer representation)", pa.limit, 1.5)
raises("bad argument #1 to 'poolalloc.limit' (limit must be a byte count >= 0 (0 removes it))", pa.limit, -1)
raises("bad argument #2 to 'poolalloc.limit' (limit takes one argument)", pa.limit, 1, 2)
raises("bad argument #1 to 'poolalloc.limit' (number expected, got table)", pa.limit, {})
print("ok " .. checks)
