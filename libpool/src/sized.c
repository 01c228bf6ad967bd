/*
** sized.c -- the Lua fast path: a lua_Alloc for a sized first-class heap.
** Lua frees with the size it asked for and uses a state from one thread,
** so a block it frees can go on a per-class LIFO list of the heap and
** come back from there at the next request of that class: the class comes
** from the size, no map lookup, no page, no ownership test, no atomic.
** The heap's counters move as if the block had gone back to its page
** (live bytes, the class's allocs and frees, the tags), so pool_heap_stats
** stays exact: a cached block counts as free.  Its page still counts it as
** used, so each class holds a bounded number (lua_room), the rest goes
** back to the pages.  Debug heaps and heaps that are not sized never cache.
*/
#include <string.h>

#include "internal.h"

/* Bytes a class may hold in the cache: the blocks of a few pages. */
#define PA_LUA_CACHE_BYTES (64 * 1024)

PA_INLINE unsigned lua_class(size_t n) { return pa_direct_class[(n + 15) >> 4]; }

/* Open the cache of heap h on its first free, if it may have one. */
static bool lua_open(pa_heap_t *h) {
    if (h->lua_open || h->debug || !h->sized || h->kind != PA_HEAP_USER) return false;
    h->lua_open = 1;
    for (unsigned c = 0; c < PA_LUA_CLASSES; c++) {
        size_t room = PA_LUA_CACHE_BYTES / pa_class_size[c];
        h->lua_room[c] = (uint16_t)(room > UINT16_MAX ? UINT16_MAX : room);
    }
    return true;
}

/* Push a block Lua freed onto its class's list, counted as
** pool_heap_free_sized counts it.  The caller checked the room. */
PA_INLINE void lua_push(pa_heap_t *h, unsigned c, void *p, size_t osize) {
    pa_block_t *b = p;
    assert(h->lua_room[c] != 0);
    h->lua_room[c]--;
    b->next = (uintptr_t)h->lua_free[c];
    h->lua_free[c] = b;
    PA_TOOL_FREE(b);
    PA_TOOL_NOACCESS(b, pa_class_size[c]);
    PA_CNT_ADD(h->live, -(int64_t)osize);
    PA_CNT_ADD(h->count[c].frees, 1);
}

/* Pop a block for n bytes (n <= PA_SMALL_MAX) under the heap's limit, or
** NULL: an empty list or the limit.  The caller counts the tag. */
PA_INLINE void *lua_pop(pa_heap_t *h, size_t n) {
    unsigned c = lua_class(n);
    pa_block_t *b = h->lua_free[c];
    if (PA_LIKELY(b != NULL) && PA_LIKELY(pa_heap_take(h, n))) {
        PA_TOOL_INTERNAL(b, sizeof b->next);
        h->lua_free[c] = (pa_block_t *)b->next;
        h->lua_room[c]++;
        PA_CNT_ADD(h->count[c].allocs, 1);
        PA_TOOL_ALLOC(b, pa_class_size[c], 0);
        return b;
    }
    return NULL;
}

/* A free the fast path did not take: a large block, a full class, or a
** cache not open yet. */
static PA_NOINLINE void lua_free_slow(pool_heap_t *heap, void *p, size_t osize) {
    pa_heap_t *h = &heap->h;
    if (osize <= PA_SMALL_MAX && (h->lua_room[lua_class(osize)] != 0 || lua_open(h)))
        lua_push(h, lua_class(osize), p, osize);
    else
        pool_heap_free_sized(heap, p, osize);
}

/* A free from Lua: the push, else the slow path. */
PA_INLINE void lua_free(pool_heap_t *heap, void *p, size_t osize) {
    pa_heap_t *h = &heap->h;
    if (PA_LIKELY(osize <= PA_SMALL_MAX)) {
        unsigned c = lua_class(osize);
        if (PA_LIKELY(h->lua_room[c] != 0)) {
            lua_push(h, c, p, osize);
            return;
        }
    }
    lua_free_slow(heap, p, osize);
}

/* Realloc of a cached-size block: in place within its class (only the
** byte count moves), else a new block, a copy and a free, all through the
** cache when both sizes are small.  A shrink is held to the limit as if
** the old block were gone, as pool_heap_realloc_sized does. */
static PA_NOINLINE void *lua_realloc(pool_heap_t *heap, void *p, size_t osize, size_t nsize) {
    pa_heap_t *h = &heap->h;
    if (osize > PA_SMALL_MAX || nsize > PA_SMALL_MAX || !h->lua_open) return pool_heap_realloc_sized(heap, p, osize, nsize);
    PA_CNT_ADD(h->reallocs, 1);
    if (lua_class(osize) == lua_class(nsize)) {
        if (nsize < osize) {
            PA_CNT_ADD(h->live, -(int64_t)(osize - nsize));
        } else if (!pa_heap_take(h, nsize - osize)) {
            errno = ENOMEM;
            return NULL;
        }
        return p;
    }
    int64_t credit = nsize < osize ? (int64_t)osize : 0;
    PA_CNT_ADD(h->live, -credit);
    void *q = lua_pop(h, nsize);
    if (!q) q = pool_heap_malloc(heap, nsize);
    PA_CNT_ADD(h->live, credit);
    if (!q) return NULL;
    memcpy(q, p, osize < nsize ? osize : nsize);
    lua_free(heap, p, osize);
    return q;
}

/* A new object (osize is its type tag) the list could not serve. */
static PA_NOINLINE void *lua_malloc_slow(pool_heap_t *heap, size_t osize, size_t nsize) {
    return pool_heap_malloc_tagged(heap, nsize, (unsigned)osize);
}

/* The lua_Alloc: the push and the pop inline, everything else in the
** functions above, so the common calls save no registers. */
void *pool_heap_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    pool_heap_t *heap = ud;
    if (nsize == 0) {
        if (ptr) lua_free(heap, ptr, osize);
        return NULL;
    }
    if (ptr == NULL) {
        void *b = PA_LIKELY(nsize <= PA_SMALL_MAX) ? lua_pop(&heap->h, nsize) : NULL;
        if (PA_LIKELY(b != NULL)) {
            PA_CNT_ADD(heap->h.tags[osize < POOL_NTAGS ? osize : 0], 1);
            return b;
        }
        return lua_malloc_slow(heap, osize, nsize);
    }
    if (osize == nsize) return ptr;
    return lua_realloc(heap, ptr, osize, nsize);
}

size_t pool_heap_lua_flush(pool_heap_t *heap) {
    if (!heap) return 0;
    pa_heap_t *h = &heap->h;
    size_t n = 0;
    for (unsigned c = 0; c < PA_LUA_CLASSES; c++) {
        pa_block_t *b;
        while ((b = h->lua_free[c]) != NULL) {
            PA_TOOL_INTERNAL(b, sizeof b->next);
            h->lua_free[c] = (pa_block_t *)b->next;
            h->lua_room[c]++;
            /* Counted free already: undo what pool_heap_free_sized counts. */
            PA_TOOL_ALLOC(b, pa_class_size[c], 0);
            PA_CNT_ADD(h->live, (int64_t)pa_class_size[c]);
            PA_CNT_ADD(h->count[c].frees, -1);
            pool_heap_free_sized(heap, b, pa_class_size[c]);
            n++;
        }
    }
    return n;
}
