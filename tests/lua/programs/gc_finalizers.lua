-- gc_finalizers.lua: __gc finalizers, order, resurrection, collectgarbage options
local log = {}
do
  for i = 1, 5 do setmetatable({ id = i }, { __gc = function(o) log[#log + 1] = "gc" .. o.id end }) end
end
collectgarbage()
collectgarbage()
print(#log, table.concat(log, " "))
local saved
do
  setmetatable({ name = "phoenix" }, { __gc = function(o) saved = o end })
end
collectgarbage()
print(saved and saved.name)
print(collectgarbage("isrunning"), type(collectgarbage("count")), collectgarbage("step", 0) ~= nil)
print(collectgarbage("incremental"), collectgarbage("generational"), collectgarbage("incremental"))
collectgarbage("stop") print(collectgarbage("isrunning")) collectgarbage("restart") print(collectgarbage("isrunning"))
local cnt = 0
for i = 1, 20000 do local t = setmetatable({}, { __gc = function() cnt = cnt + 1 end }) end
collectgarbage() collectgarbage()
print(cnt)
local t = setmetatable({}, { __gc = function() print("closing finalizer ran") end })
t = nil
collectgarbage()
setmetatable({}, { __gc = function() print("finalizer at exit") end })
do local x <close> = setmetatable({}, { __close = function() print("closed x") end }) print("in block") end
print("end")
