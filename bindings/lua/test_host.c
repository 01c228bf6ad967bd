/*
** test_host.c -- test_lua_host: a C host of Lua on libpool.  States on a
** caller's heap (lua_newstate(pool_lua_alloc, h)), on the process pool and
** from pool_lua_newstate with a limit: exact statistics, the limit error
** caught by the script while the state goes on, zero live bytes after
** lua_close, heap destroy.  Prints "ok N" per check; exits 1 on a failure.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "pool_lua.h"

static int th_checks, th_failed;

#define TH_CHECK(cond, msg) th_check(!!(cond), __LINE__, #cond, msg)

static void th_check(int ok, int line, const char *what, const char *msg) {
    th_checks++;
    if (ok) return;
    th_failed++;
    fprintf(stderr, "FAIL line %d: %s: %s\n", line, what, msg);
}

/* Lua's exact byte count of L. */
static size_t th_lua_bytes(lua_State *L) {
    return (size_t)lua_gc(L, LUA_GCCOUNT) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB);
}

static size_t th_live(pool_heap_t *h) {
    pool_stats_t st;
    pool_heap_stats(h, &st);
    return st.live_bytes;
}

/* Run `code`; return its first result as an integer (-1 on error, which
** is printed). */
static long long th_run(lua_State *L, const char *code) {
    if (luaL_dostring(L, code) != LUA_OK) {
        fprintf(stderr, "lua error: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    long long v = lua_gettop(L) ? (long long)lua_tointeger(L, -1) : 0;
    lua_settop(L, 0);
    return v;
}

static const char *th_workload =
    "local t = {}\n"
    "for i = 1, 20000 do t[i] = {i, tostring(i) .. 'x', function() return i end} end\n"
    "for i = 1, 20000, 2 do t[i] = nil end\n"
    "local s = {} for i = 1, 500 do s[#s + 1] = string.rep('ab', i) end\n"
    "collectgarbage() return #table.concat(s)\n";

/* A state on the caller's heap: live_bytes tracks Lua's count exactly. */
static void th_caller_heap(void) {
    pool_heap_t *h = pool_lua_heap_new(0, 0);
    lua_State *L = lua_newstate(pool_lua_alloc, h);
    TH_CHECK(L != NULL, "lua_newstate on a heap");
    luaL_openlibs(L);
    TH_CHECK(pool_lua_heap(L) == h, "pool_lua_heap names the state's heap");
    TH_CHECK(th_live(h) == th_lua_bytes(L), "live_bytes == Lua's count after openlibs");
    TH_CHECK(th_run(L, th_workload) == 250500, "workload result");
    TH_CHECK(th_live(h) == th_lua_bytes(L), "live_bytes == Lua's count after the workload");
    pool_stats_t st;
    pool_heap_stats(h, &st);
    TH_CHECK(st.tags[LUA_TTABLE] >= 20000 && st.tags[LUA_TSTRING] >= 20500, "types counted");
    TH_CHECK(st.tags[LUA_TFUNCTION] >= 20000 && st.tags[9] >= 20000, "closures and upvalues counted");
    TH_CHECK(luaL_loadstring(L, "T = {} for i = 1, 100 do T[i] = {} end") == LUA_OK, "load");
    pool_heap_stats(h, &st);
    uint64_t tables = st.tags[LUA_TTABLE];
    TH_CHECK(lua_pcall(L, 0, 0, 0) == LUA_OK, "run");
    pool_heap_stats(h, &st);
    TH_CHECK(st.tags[LUA_TTABLE] == tables + 101, "101 new tables are 101 table allocations");
    lua_close(L);
    TH_CHECK(th_live(h) == 0, "zero live bytes after lua_close");
    pool_heap_stats(h, &st);
    TH_CHECK(st.allocs == st.frees, "every allocation freed");
    pool_heap_destroy(h);
}

/* ud == NULL: the process pool. */
static void th_process_pool(void) {
    lua_State *L = lua_newstate(pool_lua_alloc, NULL);
    TH_CHECK(L != NULL, "lua_newstate on the process pool");
    luaL_openlibs(L);
    TH_CHECK(pool_lua_heap(L) == NULL, "no heap of its own");
    TH_CHECK(th_run(L, th_workload) == 250500, "workload on the process pool");
    luaL_requiref(L, "poolalloc", luaopen_poolalloc, 1);
    lua_pop(L, 1);
    TH_CHECK(th_run(L, "return poolalloc.stats().live_bytes > 0 and 1 or 0") == 1, "stats on the process pool");
    lua_close(L);
}

/* pool_lua_newstate with a limit: the script gets "not enough memory",
** catches it, and goes on; the host's state survives. */
static void th_limit(void) {
    pool_lua_options_t o = { .limit = 512 * 1024, .debug = 0, .script_limit = 0 };
    lua_State *L = pool_lua_newstate(&o);
    TH_CHECK(L != NULL, "pool_lua_newstate");
    luaL_openlibs(L);
    luaL_requiref(L, "poolalloc", luaopen_poolalloc, 1);
    lua_pop(L, 1);
    pool_heap_t *h = pool_lua_heap(L);
    TH_CHECK(h && pool_heap_get_limit(h) == 512 * 1024, "the heap has the limit");
    long long r = th_run(L,
        "local ok, err = pcall(function() local t = {} for i = 1, 1e7 do t[i] = ('x'):rep(64) .. i end end)\n"
        "assert(not ok and err == 'not enough memory', tostring(err))\n"
        "collectgarbage()\n"
        "local ok2, e2 = pcall(poolalloc.limit, 1)\n"
        "assert(not ok2 and e2:find('does not let scripts change', 1, true), e2)\n"
        "local t = {} for i = 1, 1000 do t[i] = i end\n"
        "return #t + poolalloc.limit()");
    TH_CHECK(r == 1000 + 512 * 1024, "the script caught the error and went on");
    pool_stats_t st;
    pool_heap_stats(h, &st);
    TH_CHECK(st.peak_bytes <= 512 * 1024, "peak within the limit");
    TH_CHECK(st.live_bytes == th_lua_bytes(L), "exact after the failure");
    /* A raw error outside pcall comes back to the host as a status. */
    TH_CHECK(luaL_loadstring(L, "local s = {} for i = 1, 1e7 do s[i] = {} end") == LUA_OK, "load");
    int status = lua_pcall(L, 0, 0, 0);
    TH_CHECK(status == LUA_ERRMEM, "unprotected overflow is LUA_ERRMEM");
    if (status != LUA_ERRMEM) fprintf(stderr, "status %d: %s\n", status, lua_tostring(L, -1));
    lua_settop(L, 0);
    TH_CHECK(th_run(L, "return 7") == 7, "the state still works");
    TH_CHECK(pool_lua_close(L) == 0, "no leak at pool_lua_close");
}

/* A state of another allocator moved onto a heap with pool_lua_install. */
static void th_install(void) {
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    TH_CHECK(pool_lua_install(L) == 0, "install");
    TH_CHECK(pool_lua_install(L) == 1, "a second install does nothing");
    pool_heap_t *h = pool_lua_heap(L);
    TH_CHECK(h != NULL, "installed heap");
    TH_CHECK(th_run(L, th_workload) == 250500, "workload after install");
    TH_CHECK(th_live(h) + pool_lua_foreign_bytes(L) == th_lua_bytes(L), "heap + foreign == Lua's count");
    TH_CHECK(th_live(h) > 1000000, "new blocks come from the heap");
    lua_close(L);
    TH_CHECK(th_live(h) == 0, "installed heap empty after lua_close");
}

int main(void) {
    th_caller_heap();
    th_process_pool();
    th_limit();
    th_install();
    printf("%d checks, %d failed\n", th_checks, th_failed);
    return th_failed ? 1 : 0;
}
