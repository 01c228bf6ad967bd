/*
** pool_lua.c -- lua_Alloc on libpool, states that own their heap, and the
** install wrapper for states made by another allocator.
** Lua tells the allocator every block's size, so a block needs no header
** and a free needs no lookup: pool_heap_free_sized / realloc_sized.
*/
#define _GNU_SOURCE     /* dladdr, RTLD_NODELETE */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "pool_lua.h"

/* The lua_Alloc contract (Lua 5.4 manual, lua_Alloc):
** nsize == 0 frees; ptr == NULL allocates and osize is the object's type
** tag; otherwise osize is the block's size.  NULL only when the request
** cannot be met (Lua then collects garbage and raises "not enough memory").
** A heap is served by libpool's Lua fast path (pool_heap_lua_alloc). */
void *pool_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    if (ud) return pool_heap_lua_alloc(ud, ptr, osize, nsize);
    if (nsize == 0) {
        if (ptr) pool_free(ptr);
        return NULL;
    }
    if (ptr == NULL) return pool_malloc(nsize);
    if (osize == nsize) return ptr;
    return pool_realloc(ptr, nsize);
}

/* Sized heaps count requested bytes, which is what Lua counts too. */
pool_heap_t *pool_lua_heap_new(size_t limit, int debug) {
    pool_heap_options_t o = { .limit = limit, .debug = debug, .sized = 1, .name = "lua" };
    return pool_heap_new(&o);
}

/* ---- panic and warnings, as luaL_newstate sets them up ---- */

/* An error outside any protected call: say so before Lua aborts. */
static int pl_panic(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "PANIC: unprotected error in call to Lua API (%s)\n", msg ? msg : "error object is not a string");
    fflush(stderr);
    return 0;
}

static void pl_warn_off(void *ud, const char *msg, int tocont);
static void pl_warn_on(void *ud, const char *msg, int tocont);
static void pl_warn_cont(void *ud, const char *msg, int tocont);

/* "@on" / "@off" switch warnings; other '@' messages are ignored. */
static int pl_warn_control(lua_State *L, const char *msg, int tocont) {
    if (tocont || *msg != '@') return 0;
    if (strcmp(msg, "@off") == 0) lua_setwarnf(L, pl_warn_off, L);
    else if (strcmp(msg, "@on") == 0) lua_setwarnf(L, pl_warn_on, L);
    return 1;
}

/* Warnings are off: only control messages count. */
static void pl_warn_off(void *ud, const char *msg, int tocont) {
    pl_warn_control(ud, msg, tocont);
}

/* Rest of a warning made of pieces. */
static void pl_warn_cont(void *ud, const char *msg, int tocont) {
    fputs(msg, stderr);
    if (tocont) {
        lua_setwarnf(ud, pl_warn_cont, ud);
    } else {
        fputc('\n', stderr);
        fflush(stderr);
        lua_setwarnf(ud, pl_warn_on, ud);
    }
}

/* First piece of a warning while warnings are on. */
static void pl_warn_on(void *ud, const char *msg, int tocont) {
    if (pl_warn_control(ud, msg, tocont)) return;
    fputs("Lua warning: ", stderr);
    pl_warn_cont(ud, msg, tocont);
}

/* ---- states that own their heap ---- */

lua_State *pool_lua_newstate(const pool_lua_options_t *opts) {
    pool_heap_t *h = pool_lua_heap_new(opts ? opts->limit : 0, opts ? opts->debug : 0);
    if (!h) return NULL;
    /* The heap's own lua_Alloc: one call less than pool_lua_alloc. */
    lua_State *L = lua_newstate(pool_heap_lua_alloc, h);
    if (!L) {
        pool_heap_destroy(h);
        return NULL;
    }
    lua_atpanic(L, pl_panic);
    lua_setwarnf(L, pl_warn_off, L);
    lua_pushboolean(L, opts && opts->script_limit);
    lua_setfield(L, LUA_REGISTRYINDEX, POOL_LUA_SCRIPT_LIMIT_KEY);
    return L;
}

/* ---- install: a state of another allocator moves to a heap ---- */

/* What the wrapper needs: the previous allocator, for its own blocks. */
typedef struct pl_install {
    lua_Alloc prev;
    void *prev_ud;
    pool_heap_t *heap;
    size_t foreign;         /* bytes of the previous allocator's blocks */
} pl_install_t;

/* lua_Alloc of installed states: blocks that are not ours go back to the
** previous allocator; a foreign block that grows or shrinks moves to the
** heap (a failed move leaves it where it was). */
static void *pl_install_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    pl_install_t *w = ud;
    if (ptr == NULL || pool_owns(ptr)) return pool_heap_lua_alloc(w->heap, ptr, osize, nsize);
    if (osize == nsize) return ptr;
    void *q = NULL;
    if (nsize) {
        if (!(q = pool_heap_malloc(w->heap, nsize))) return NULL;
        memcpy(q, ptr, osize < nsize ? osize : nsize);
    }
    w->foreign -= osize;
    w->prev(w->prev_ud, ptr, osize, 0);
    return q;
}

/* lua_close unloads C modules (dlclose) before it frees the last blocks,
** which still come through pl_install_alloc: keep the object holding it
** (poolalloc.so and with it libpool.so) loaded for good. */
static void pl_pin_module(void) {
    Dl_info info;
    if (dladdr((void *)pl_install_alloc, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

int pool_lua_install(lua_State *L) {
    void *ud;
    lua_Alloc f = lua_getallocf(L, &ud);
    if (f == pool_lua_alloc || f == pool_heap_lua_alloc || f == pl_install_alloc) return 1;
    pl_install_t *w = malloc(sizeof *w);
    if (!w) return -1;
    w->heap = pool_lua_heap_new(0, 0);
    if (!w->heap) {
        free(w);
        errno = ENOMEM;
        return -1;
    }
    pl_pin_module();
    w->prev = f;
    w->prev_ud = ud;
    /* Every block so far is the previous allocator's: Lua's exact count. */
    w->foreign = (size_t)lua_gc(L, LUA_GCCOUNT) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB);
    lua_setallocf(L, pl_install_alloc, w);
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, POOL_LUA_SCRIPT_LIMIT_KEY);
    return 0;
}

size_t pool_lua_foreign_bytes(lua_State *L) {
    void *ud;
    return lua_getallocf(L, &ud) == pl_install_alloc ? ((pl_install_t *)ud)->foreign : 0;
}

pool_heap_t *pool_lua_heap(lua_State *L) {
    void *ud = NULL;
    lua_Alloc f = lua_getallocf(L, &ud);
    if (f == pool_lua_alloc || f == pool_heap_lua_alloc) return ud;
    if (f == pl_install_alloc) return ((pl_install_t *)ud)->heap;
    return NULL;
}

/* Closing checks the heap is empty: any live block is Lua's leak. */
size_t pool_lua_close(lua_State *L) {
    void *ud = NULL;
    lua_Alloc f = lua_getallocf(L, &ud);
    pool_heap_t *h = f == pool_lua_alloc || f == pool_heap_lua_alloc ? ud : NULL;
    lua_close(L);
    if (!h) return 0;
    pool_stats_t st;
    pool_heap_stats(h, &st);
    if (st.live_bytes) {
        fprintf(stderr, "poolalloc: lua state leaked %zu bytes after lua_close:", st.live_bytes);
        for (unsigned c = 0; c < st.nclasses; c++)
            if (st.classes[c].live_blocks) fprintf(stderr, " %zu x %zu B", st.classes[c].live_blocks, st.classes[c].size);
        if (st.large_blocks) fprintf(stderr, " %zu large", st.large_blocks);
        fputc('\n', stderr);
    }
    pool_heap_destroy(h);
    return st.live_bytes;
}

int pool_lua_script_limit(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, POOL_LUA_SCRIPT_LIMIT_KEY);
    int ok = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return ok;
}
