/*
** pool_lua.h -- libpool for Lua 5.4 hosts: an allocator for lua_newstate
** with a heap per state, byte limits, and the `poolalloc` Lua module.
**
**   pool_heap_t *h = pool_heap_new(NULL);          (or pool_lua_heap_new)
**   lua_State *L = lua_newstate(pool_lua_alloc, h);
**   ...
**   lua_close(L); pool_heap_destroy(h);
**
** or pool_lua_newstate(&opts) / pool_lua_close(L), which own the heap.
*/
#ifndef POOL_LUA_H
#define POOL_LUA_H

#include <lua.h>

#include "pool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pool_lua_options {
    size_t limit;           /* byte limit of the state's heap; 0 = none */
    int debug;              /* libpool debug checks for this heap */
    int script_limit;       /* may scripts change the limit (poolalloc.limit(n))? */
} pool_lua_options_t;

/* lua_Alloc on libpool.  ud is a pool_heap_t * (NULL: the process pool). */
POOL_API void *pool_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* A heap as pool_lua_alloc wants it: exact requested-byte accounting, so
** its live_bytes equals collectgarbage("count") * 1024. */
POOL_API pool_heap_t *pool_lua_heap_new(size_t limit, int debug);

/* A state on a heap of its own (NULL opts: no limit), with the panic and
** warning functions of luaL_newstate (warnings start off).  NULL on
** failure. */
POOL_API lua_State *pool_lua_newstate(const pool_lua_options_t *opts);

/* Close a state made by pool_lua_newstate and destroy its heap.  Returns
** the bytes still live after lua_close (a leak: reported on stderr). */
POOL_API size_t pool_lua_close(lua_State *L);

/* The heap a state allocates from, or NULL (the process pool, or a state
** that is not on libpool). */
POOL_API pool_heap_t *pool_lua_heap(lua_State *L);

/* Registry field (a boolean) that lets scripts change the state's limit
** with poolalloc.limit(n); pool_lua_newstate sets it from
** opts->script_limit, and a host that made its own state may set it. */
#define POOL_LUA_SCRIPT_LIMIT_KEY "poolalloc.script_limit"

/* Whether the host lets scripts of L change the limit. */
POOL_API int pool_lua_script_limit(lua_State *L);

/* Switch a state made with another allocator (luaL_newstate) to a heap of
** its own: new blocks come from the heap, and blocks of the previous
** allocator go back to it (decided by pool_owns).  0 on success, -1 (ENOMEM)
** if the heap cannot be made, 1 if L is already on libpool.  The heap and a
** small record stay until the process exits (lua_close frees every block). */
POOL_API int pool_lua_install(lua_State *L);

/* Bytes of the previous allocator's blocks still live in an installed
** state (0 otherwise): the heap's live_bytes plus these equal Lua's count. */
POOL_API size_t pool_lua_foreign_bytes(lua_State *L);

/* The Lua module: require "poolalloc". */
POOL_API int luaopen_poolalloc(lua_State *L);

#ifdef __cplusplus
}
#endif
#endif
