/*
** lpoolalloc.c -- the `poolalloc` Lua module: libpool's statistics, limit
** and report for the running state, and install() for states made by
** another allocator.  Thin: every figure comes from libpool.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "pool_lua.h"

/* Where the state allocates: its own heap, the process pool, or neither. */
typedef enum { PA_ON_HEAP, PA_ON_PROCESS, PA_ELSEWHERE } pa_where_t;

/* The state's heap (NULL with PA_ON_PROCESS / PA_ELSEWHERE). */
static pa_where_t pa_where(lua_State *L, pool_heap_t **h) {
    void *ud = NULL;
    *h = pool_lua_heap(L);
    if (*h) return PA_ON_HEAP;
    return lua_getallocf(L, &ud) == pool_lua_alloc ? PA_ON_PROCESS : PA_ELSEWHERE;
}

/* Functions that take no arguments say so rather than ignore them. */
static void pa_no_args(lua_State *L) {
    if (lua_gettop(L) > 0) luaL_argerror(L, 1, "no arguments expected");
}

/* The state's heap, or an error that tells how to get one. */
static pool_heap_t *pa_heap_or_process(lua_State *L) {
    pool_heap_t *h;
    if (pa_where(L, &h) == PA_ELSEWHERE)
        luaL_error(L, "poolalloc: this state does not allocate from libpool (call poolalloc.install() first)");
    return h;
}

/* Stats of the state's heap (process-wide for the process pool). */
static void pa_fill(lua_State *L, pool_stats_t *st) {
    pool_heap_t *h = pa_heap_or_process(L);
    int rc = h ? pool_heap_stats(h, st) : pool_stats(st);
    if (rc != 0) luaL_error(L, "poolalloc: cannot read the statistics (%s)", strerror(errno));
}

static void pa_setint(lua_State *L, const char *k, lua_Integer v) {
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

/* Lua's type tags as lua_Alloc sees them (osize of a new object). */
static const struct { const char *name; int tag; } pa_types[] = {
    { "string", LUA_TSTRING }, { "table", LUA_TTABLE }, { "function", LUA_TFUNCTION },
    { "userdata", LUA_TUSERDATA }, { "thread", LUA_TTHREAD }, { "upvalue", LUA_NUMTYPES },
    { "proto", LUA_NUMTYPES + 1 }, { "other", 0 },
};

/* stats() -> {live_bytes, peak_bytes, ..., classes = {...}, types = {...}} */
static int pa_stats(lua_State *L) {
    pa_no_args(L);
    pool_stats_t st;
    pa_fill(L, &st);
    /* Lua's own count at the same moment (nothing allocated in between). */
    int kb = lua_gc(L, LUA_GCCOUNT), b = lua_gc(L, LUA_GCCOUNTB);
    lua_createtable(L, 0, 13);
    pa_setint(L, "lua_bytes", kb < 0 ? -1 : (lua_Integer)kb * 1024 + b);
    pa_setint(L, "live_bytes", (lua_Integer)st.live_bytes);
    pa_setint(L, "peak_bytes", (lua_Integer)st.peak_bytes);
    pa_setint(L, "reserved_bytes", (lua_Integer)st.reserved_bytes);
    pa_setint(L, "committed_bytes", (lua_Integer)st.committed_bytes);
    pa_setint(L, "allocs", (lua_Integer)st.allocs);
    pa_setint(L, "frees", (lua_Integer)st.frees);
    pa_setint(L, "reallocs", (lua_Integer)st.reallocs);
    pa_setint(L, "large_blocks", (lua_Integer)st.large_blocks);
    pa_setint(L, "large_bytes", (lua_Integer)st.large_bytes);
    pa_setint(L, "foreign_bytes", (lua_Integer)pool_lua_foreign_bytes(L));
    pa_setint(L, "limit", (lua_Integer)(pool_lua_heap(L) ? pool_heap_get_limit(pool_lua_heap(L)) : pool_get_limit()));
    lua_createtable(L, (int)st.nclasses, 0);
    for (unsigned c = 0; c < st.nclasses; c++) {
        lua_createtable(L, 0, 6);
        pa_setint(L, "size", (lua_Integer)st.classes[c].size);
        pa_setint(L, "live_blocks", (lua_Integer)st.classes[c].live_blocks);
        pa_setint(L, "free_blocks", (lua_Integer)st.classes[c].free_blocks);
        pa_setint(L, "pages", (lua_Integer)st.classes[c].pages);
        pa_setint(L, "allocs", (lua_Integer)st.classes[c].allocs);
        pa_setint(L, "frees", (lua_Integer)st.classes[c].frees);
        lua_rawseti(L, -2, (lua_Integer)c + 1);
    }
    lua_setfield(L, -2, "classes");
    lua_createtable(L, 0, 8);
    for (size_t i = 0; i < sizeof pa_types / sizeof pa_types[0]; i++)
        pa_setint(L, pa_types[i].name, (lua_Integer)st.tags[pa_types[i].tag]);
    lua_setfield(L, -2, "types");
    return 1;
}

/* report() -> libpool's readable table of the state's heap. */
static int pa_report(lua_State *L) {
    pa_no_args(L);
    pool_stats_t st;
    pa_fill(L, &st);
    size_t n = pool_stats_report(&st, NULL, 0);
    luaL_Buffer b;
    char *buf = luaL_buffinitsize(L, &b, n + 1);
    pool_stats_report(&st, buf, n + 1);
    luaL_pushresultsize(&b, n);
    return 1;
}

/* reset_peak(): peak_bytes restarts from live_bytes. */
static int pa_reset_peak(lua_State *L) {
    pa_no_args(L);
    pool_heap_t *h = pa_heap_or_process(L);
    if (h) pool_heap_reset_peak(h);
    else pool_reset_peak();
    return 0;
}

/* limit([bytes]) -> the limit (0: none); with bytes, sets it, where the
** host allows, and returns the previous one. */
static int pa_limit(lua_State *L) {
    pool_heap_t *h = pa_heap_or_process(L);
    if (lua_gettop(L) > 1) luaL_argerror(L, 2, "limit takes one argument");
    if (lua_isnoneornil(L, 1)) {
        lua_pushinteger(L, (lua_Integer)(h ? pool_heap_get_limit(h) : pool_get_limit()));
        return 1;
    }
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0, 1, "limit must be a byte count >= 0 (0 removes it)");
    if (!pool_lua_script_limit(L))
        return luaL_error(L, "poolalloc.limit: the host does not let scripts change the memory limit");
    lua_pushinteger(L, (lua_Integer)(h ? pool_heap_set_limit(h, (size_t)n) : pool_set_limit((size_t)n)));
    return 1;
}

/* leaks() -> {live_bytes, live_blocks, classes = {{size, live_blocks}...}}:
** what is live now, by size class (libpool does not keep a block's type,
** so per-type figures are the cumulative allocation counts of stats()). */
static int pa_leaks(lua_State *L) {
    pa_no_args(L);
    pool_stats_t st;
    pa_fill(L, &st);
    lua_createtable(L, 0, 4);
    pa_setint(L, "live_bytes", (lua_Integer)st.live_bytes);
    pa_setint(L, "large_blocks", (lua_Integer)st.large_blocks);
    lua_newtable(L);
    size_t blocks = st.large_blocks;
    int k = 0;
    for (unsigned c = 0; c < st.nclasses; c++) {
        if (!st.classes[c].live_blocks) continue;
        blocks += st.classes[c].live_blocks;
        lua_createtable(L, 0, 2);
        pa_setint(L, "size", (lua_Integer)st.classes[c].size);
        pa_setint(L, "live_blocks", (lua_Integer)st.classes[c].live_blocks);
        lua_rawseti(L, -2, ++k);
    }
    lua_setfield(L, -2, "classes");
    pa_setint(L, "live_blocks", (lua_Integer)blocks);
    return 1;
}

/* install() -> true if the state moved to a heap of its own, false if it
** already allocates from libpool. */
static int pa_install(lua_State *L) {
    pa_no_args(L);
    int rc = pool_lua_install(L);
    if (rc < 0) return luaL_error(L, "poolalloc.install: cannot make a heap (%s)", strerror(errno));
    lua_pushboolean(L, rc == 0);
    return 1;
}

static const luaL_Reg pa_funcs[] = {
    { "stats", pa_stats },
    { "report", pa_report },
    { "reset_peak", pa_reset_peak },
    { "limit", pa_limit },
    { "leaks", pa_leaks },
    { "install", pa_install },
    { NULL, NULL },
};

int luaopen_poolalloc(lua_State *L) {
    luaL_newlib(L, pa_funcs);
    lua_pushliteral(L, POOL_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
