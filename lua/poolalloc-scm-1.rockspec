-- poolalloc-scm-1.rockspec -- the `poolalloc` Lua module on libpool.
-- It needs libpool installed first (pool.h and libpool.so, e.g. from
-- `cmake -S . -B build && cmake --build build && cmake --install build`);
-- the module does not embed its own copy of the allocator.  Build it from a
-- checkout with `luarocks make lua/poolalloc-scm-1.rockspec`
-- (LIBPOOL_DIR=/prefix if libpool is not under /usr or /usr/local).
rockspec_format = "3.0"
package = "poolalloc"
version = "scm-1"
source = {
   url = "git+file://./poolalloc",   -- no public repository yet: use `luarocks make` in a checkout
}
description = {
   summary = "Lua 5.4 statistics, memory limits and allocator switch on libpool",
   detailed = [[
      require "poolalloc" gives the running state's allocator statistics
      (stats, report, leaks, reset_peak), its memory limit, and install(),
      which moves a state made by another allocator onto a libpool heap.
   ]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
external_dependencies = {
   LIBPOOL = { header = "pool.h", library = "pool" },
}
build = {
   type = "builtin",
   modules = {
      poolalloc = {
         sources = { "bindings/lua/lpoolalloc.c", "bindings/lua/pool_lua.c" },
         incdirs = { "$(LIBPOOL_INCDIR)", "bindings/lua" },
         libdirs = { "$(LIBPOOL_LIBDIR)" },
         libraries = { "pool", "dl" },
      },
   },
}
