-- run.lua -- benchmark driver: runs the workload arg[1] with the rest of
-- the arguments and prints one JSON line with the checksum it returns and
-- the process's peak RSS (VmHWM, kB).  The RSS is read here because a
-- parent's wait4 also counts the pages it had itself before exec.
local path = assert(arg[1], "usage: run.lua WORKLOAD.lua [scale]")
local chunk = assert(loadfile(path))
arg = { [0] = path, table.unpack(arg, 2) }
local checksum = chunk(table.unpack(arg))
local f = io.open("/proc/self/status")
local hwm = f and f:read("a"):match("VmHWM:%s*(%d+)")
if f then f:close() end
print(string.format('{"checksum": %d, "peak_rss_kb": %s}', checksum, hwm or "null"))
