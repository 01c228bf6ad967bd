/*
** ceil_alloc.c -- the Lua ceiling experiment's allocators (issue 16): the
** cheapest lua_Alloc there could be, and stock Lua's realloc/free one, each
** linked into the poollua build in place of libpool's state (poollua.c is
** compiled with pool_lua_newstate and pool_lua_close renamed to the
** functions below).  Never part of the product: ceiling.py builds it.
**
**   -DCEIL_IDEAL  per-16-byte-size LIFO lists, no checks, no counters, no
**                 limit, refilled by a bump pointer over 64 MiB mmaps, no
**                 memory ever returned; sizes above CEIL_SMALL_MAX go to
**                 glibc (rare in Lua).  With -DCEIL_SEGREGATED too, each
**                 size bumps through 64 KiB runs of its own (locality of a
**                 size-class allocator at the same cost).
**   (neither)     realloc/free, as lua5.4's own lua_Alloc (a control: the
**                 same build with the stock allocator).
** CEIL_COUNT=1 in the environment prints the calls by kind on stderr at
** close (a second, slower function: it is not the one timed).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <lua.h>

#include "pool_lua.h"

#define CEIL_SMALL_MAX 4096
#define CEIL_CHUNK     ((size_t)64 << 20)

/* Free lists by granule (size rounded up to 16), and the bump region. */
static void *ceil_free[CEIL_SMALL_MAX / 16 + 1];
static char *ceil_bump, *ceil_end;

/* Calls by kind, for CEIL_COUNT. */
static unsigned long long ceil_mallocs, ceil_frees, ceil_reallocs, ceil_bytes;

/* A new block of granule g from the bump region (a fresh chunk when the
** current one is short: its tail is wasted, once per 64 MiB). */
static void *ceil_carve(size_t n) {
    if ((size_t)(ceil_end - ceil_bump) < n) {
        void *m = mmap(NULL, CEIL_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) return NULL;
        ceil_bump = m;
        ceil_end = ceil_bump + CEIL_CHUNK;
    }
    void *p = ceil_bump;
    ceil_bump += n;
    return p;
}

#ifdef CEIL_SEGREGATED
/* With CEIL_SEGREGATED each granule bumps through 64 KiB runs of its own,
** so blocks of one size sit together, as in a size-class allocator's
** pages (without it, sizes interleave in the order of the requests). */
static char *ceil_gbump[CEIL_SMALL_MAX / 16 + 1], *ceil_gend[CEIL_SMALL_MAX / 16 + 1];

static __attribute__((noinline)) void *ceil_bump_alloc(size_t g) {
    size_t n = g << 4;
    if ((size_t)(ceil_gend[g] - ceil_gbump[g]) < n) {
        size_t run = n > 65536 ? n : 65536;
        char *r = ceil_carve(run);
        if (r == NULL) return NULL;
        ceil_gbump[g] = r;
        ceil_gend[g] = r + run;
    }
    void *p = ceil_gbump[g];
    ceil_gbump[g] += n;
    return p;
}
#else
static __attribute__((noinline)) void *ceil_bump_alloc(size_t g) { return ceil_carve(g << 4); }
#endif

#ifdef CEIL_IDEAL
/* Realloc, and anything large: a new block, a copy, a free (same granule:
** the block itself).  It takes lua_Alloc's arguments in their registers,
** so the fast path jumps to it without moving any. */
static __attribute__((noinline)) void *ceil_other(void *ud, void *ptr, size_t osize, size_t nsize);

/* The ideal lua_Alloc: a pop or a bump for a malloc, a push for a free. */
static void *ceil_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    if (ptr == NULL && nsize - 1 < CEIL_SMALL_MAX) {
        size_t g = (nsize + 15) >> 4;
        void *b = ceil_free[g];
        if (b) {
            ceil_free[g] = *(void **)b;
            return b;
        }
        return ceil_bump_alloc(g);
    }
    if (nsize == 0 && osize <= CEIL_SMALL_MAX && ptr) {
        size_t g = (osize + 15) >> 4;
        *(void **)ptr = ceil_free[g];
        ceil_free[g] = ptr;
        return NULL;
    }
    return ceil_other(ud, ptr, osize, nsize);
}

static void *ceil_other(void *ud, void *ptr, size_t osize, size_t nsize) {
    if (ptr == NULL) return nsize == 0 ? NULL : malloc(nsize);     /* large */
    if (nsize == 0) {                                              /* large free */
        free(ptr);
        return NULL;
    }
    if (osize <= CEIL_SMALL_MAX && nsize <= CEIL_SMALL_MAX && (osize + 15) >> 4 == (nsize + 15) >> 4) return ptr;
    if (osize > CEIL_SMALL_MAX && nsize > CEIL_SMALL_MAX) return realloc(ptr, nsize);
    void *q = ceil_alloc(ud, NULL, 0, nsize);
    if (q == NULL) return NULL;
    memcpy(q, ptr, osize < nsize ? osize : nsize);
    ceil_alloc(ud, ptr, osize, 0);
    return q;
}
#else
/* lua5.4's allocator: free for a size of 0, realloc for everything else. */
static void *ceil_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}
#endif

/* ceil_alloc with the calls counted (CEIL_COUNT=1). */
static void *ceil_alloc_counted(void *ud, void *ptr, size_t osize, size_t nsize) {
    if (ptr == NULL && nsize) ceil_mallocs++, ceil_bytes += nsize;
    else if (ptr && nsize == 0) ceil_frees++;
    else if (ptr) ceil_reallocs++, ceil_bytes += nsize > osize ? nsize - osize : 0;
    return ceil_alloc(ud, ptr, osize, nsize);
}

static int ceil_panic(lua_State *L) {
    fprintf(stderr, "PANIC: unprotected error in call to Lua API (%s)\n", lua_tostring(L, -1));
    return 0;
}

/* poollua's pool_lua_newstate, on ceil_alloc (warnings off, as there). */
lua_State *ceil_lua_newstate(const pool_lua_options_t *opts) {
    (void)opts;
    const char *c = getenv("CEIL_COUNT");
    lua_State *L = lua_newstate(c && *c == '1' ? ceil_alloc_counted : ceil_alloc, NULL);
    if (L == NULL) return NULL;
    lua_atpanic(L, ceil_panic);
    lua_setwarnf(L, NULL, NULL);
    return L;
}

/* poollua's pool_lua_close: nothing can leak from the caller's view. */
size_t ceil_lua_close(lua_State *L) {
    lua_close(L);
    const char *c = getenv("CEIL_COUNT");
    if (c && *c == '1')
        fprintf(stderr, "ceil_count: mallocs %llu frees %llu reallocs %llu bytes %llu\n", ceil_mallocs, ceil_frees,
                ceil_reallocs, ceil_bytes);
    return 0;
}
