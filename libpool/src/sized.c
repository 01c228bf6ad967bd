/*
** sized.c -- the Lua fast path: a lua_Alloc for a sized first-class heap.
** Lua frees with the size it asked for and uses a state from one thread,
** so a block it frees can go on a LIFO list of the heap, one list per
** 16-byte granule of the size, and come back from there at the next
** request of that granule: no class table, no map lookup, no page, no
** ownership test, no atomic.  The heap's counters move as if the block had
** gone back to its page: live bytes (with the limit and the peak), tags;
** the class's allocs and frees are derived when the stats are read
** (pa_lua_counts) from each list's pops and length, which is its cap less
** its room.  So a pop adds to its list's room and pops, a push takes from
** its room, and nothing else is counted.  A kept block's page still counts
** it as used, so each list keeps a bounded number: PA_LUA_CACHE_BYTES
** worth, doubled while the lists' growth stays under half of the
** heap's live bytes (up to PA_LUA_LIST_MAX); the rest goes back to the
** pages.  Debug heaps and heaps that are not sized keep nothing.
*/
#include <string.h>

#include "internal.h"

/* Bytes a list may keep at first (the blocks of one page of its class),
** and at most. */
#define PA_LUA_CACHE_BYTES (64 * 1024)
#define PA_LUA_LIST_MAX    (1024 * 1024)

PA_INLINE size_t lua_granule(size_t n) { return (n + 15) >> 4; }

/* The list of size n (n <= PA_SMALL_MAX): &h->lua[lua_granule(n)], as an
** add and a mask (the list is 32 bytes, twice the granule's 16). */
PA_INLINE pa_lua_list_t *lua_list(pa_heap_t *h, size_t n) {
    return (pa_lua_list_t *)((uint8_t *)h->lua + ((n + 15) & ~(size_t)15) * 2);
}

/* Blocks the list of granule g may keep once open.  Granule 0 keeps none,
** so a free of size 0 (or of NULL) and a request of size 0 never find it. */
static int32_t lua_cap(size_t g) {
    return g == 0 ? 0 : (int32_t)(PA_LUA_CACHE_BYTES / pa_class_size[pa_direct_class[g]]);
}

/* Open the lists of heap h on its first free, if it may have them. */
static bool lua_open(pa_heap_t *h) {
    if (h->lua_open || h->debug || !h->sized || h->kind != PA_HEAP_USER) return false;
    h->lua_open = 1;
    for (size_t g = 0; g < PA_DIRECT; g++) {
        PA_CNT_SET(h->lua[g].room, lua_cap(g));
        PA_CNT_SET(h->lua[g].cap, lua_cap(g));
    }
    return true;
}

/* Push block p, of n bytes, on list l, whose room the caller took: the
** free is counted by the room, the bytes leave live. */
PA_INLINE void lua_push(pa_heap_t *h, pa_lua_list_t *l, void *p, size_t n) {
    pa_block_t *b = p;
    b->next = (uintptr_t)l->free;
    l->free = b;
    PA_TOOL_FREE(b);
    PA_TOOL_NOACCESS(b, pa_class_size[pa_class_of(n)]);
    h->headroom += (int64_t)n;
}

/* Pop b, the head of list l, for n bytes the caller took: the alloc is
** counted by the room and the pops.  The caller counts the tag. */
PA_INLINE void *lua_pop(pa_lua_list_t *l, pa_block_t *b, size_t n) {
    PA_TOOL_INTERNAL(b, sizeof b->next);
    l->free = (pa_block_t *)b->next;
    l->room++;
    l->pops++;
    PA_TOOL_ALLOC(b, pa_class_size[pa_class_of(n)], 0);
    return b;
}

/* A block for n bytes (0 < n <= PA_SMALL_MAX) from any list of n's class,
** its bytes taken; NULL if those lists are empty or the limit refuses. */
static void *lua_take(pa_heap_t *h, size_t n) {
    size_t x = lua_granule(n);
    unsigned c = pa_direct_class[x];
    while (x > 1 && pa_direct_class[x - 1] == c) x--;  /* granule 0 keeps nothing */
    for (; x < PA_DIRECT && pa_direct_class[x] == c; x++) {
        pa_block_t *b = h->lua[x].free;
        if (b) return pa_heap_take(h, n) ? lua_pop(&h->lua[x], b, n) : NULL;
    }
    return NULL;
}

/* The slow paths take lua_Alloc's arguments in lua_Alloc's registers, so
** the fast path jumps to them without moving any. */
#define PA_LUA_SLOW __attribute__((noipa))

/* A free the fast path did not take: a large block, a size of 0, lists
** not open yet. */
static PA_LUA_SLOW void *lua_free_slow(pool_heap_t *heap, void *p, size_t osize, size_t nsize) {
    pa_heap_t *h = &heap->h;
    (void)nsize;
    if (osize <= PA_SMALL_MAX && lua_open(h)) {
        pa_lua_list_t *l = lua_list(h, osize);
        if (--l->room >= 0) {
            lua_push(h, l, p, osize);
            return NULL;
        }
        l->room++;
    }
    pool_heap_free_sized(heap, p, osize);
    return NULL;
}

/* A free whose list was full: the fast path took a room that was not
** there (or the lists are not open yet: their caps are 0).  A heap whose
** live bytes are large against its lists doubles the list (a GC sweep of many objects of one size then finds room for them),
** else the block goes back to its page. */
static PA_LUA_SLOW void *lua_free_full(pool_heap_t *heap, void *p, size_t osize, size_t nsize) {
    pa_heap_t *h = &heap->h;
    pa_lua_list_t *l = lua_list(h, osize);
    l->room++;
    size_t grow = (size_t)l->cap * pa_class_size[pa_class_of(osize)];
    if (l->cap > 0 && grow < PA_LUA_LIST_MAX && h->lua_grown + grow <= (uint64_t)pa_heap_live(h) / 2) {
        h->lua_grown += grow;
        l->room += l->cap - 1;
        l->cap *= 2;
        lua_push(h, l, p, osize);
        return NULL;
    }
    return lua_free_slow(heap, p, osize, nsize);
}

/* A request the fast path did not take: size 0 (Lua's free of NULL), a
** large block, a tag past POOL_NTAGS, or an empty list, in which case a
** block of another granule of the same class serves, if a list has one. */
static PA_LUA_SLOW void *lua_malloc_slow(pool_heap_t *heap, void *ptr, size_t osize, size_t nsize) {
    pa_heap_t *h = &heap->h;
    (void)ptr;
    if (nsize == 0) return NULL;
    void *b = nsize <= PA_SMALL_MAX && h->lua_open ? lua_take(h, nsize) : NULL;
    if (!b) return pool_heap_malloc_tagged(heap, nsize, (unsigned)osize);
    h->tags[osize < POOL_NTAGS ? osize : 0]++;
    return b;
}

/* A request its list can serve that took the heap past min(limit, peak):
** a new peak, or past the limit a refusal. */
static PA_LUA_SLOW void *lua_malloc_high(pool_heap_t *heap, void *ptr, size_t osize, size_t nsize) {
    pa_heap_t *h = &heap->h;
    (void)ptr;
    if (!pa_heap_take_slow(h, nsize)) {
        errno = ENOMEM;
        return NULL;
    }
    pa_lua_list_t *l = lua_list(h, nsize);
    h->tags[osize]++;
    return lua_pop(l, l->free, nsize);
}

/* Realloc of a kept-size block: in place within its class (only the
** byte count moves), else a new block, a copy and a free, all through the
** lists when both sizes are small.  A shrink is held to the limit as if
** the old block were gone, as pool_heap_realloc_sized does. */
static PA_LUA_SLOW void *lua_realloc(pool_heap_t *heap, void *p, size_t osize, size_t nsize) {
    pa_heap_t *h = &heap->h;
    if (osize == nsize) return p;
    if (osize > PA_SMALL_MAX || nsize > PA_SMALL_MAX || !h->lua_open) return pool_heap_realloc_sized(heap, p, osize, nsize);
    PA_CNT_ADD(h->reallocs, 1);
    pa_lua_list_t *lo = lua_list(h, osize), *ln = lua_list(h, nsize);
    if (pa_direct_class[lua_granule(osize)] == pa_direct_class[lua_granule(nsize)]) {
        if (nsize < osize) pa_heap_give(h, (int64_t)(osize - nsize));
        else if (!pa_heap_take(h, nsize - osize)) {
            errno = ENOMEM;
            return NULL;
        }
        return p;
    }
    /* A table's array or a stack moving between two lists (a table built
    ** by a constructor ending in a call grows 16 -> 32 bytes at once): a
    ** pop, a copy and a push, when the new list has a block, the old one
    ** room, and the heap the bytes below its peak. */
    pa_block_t *b = ln->free;
    int64_t need = (int64_t)nsize - (nsize < osize ? (int64_t)osize : 0);
    if (b && lo->room > 0 && h->headroom >= need) {
        h->headroom -= (int64_t)nsize;
        lua_pop(ln, b, nsize);
        memcpy(b, p, osize < nsize ? osize : nsize);
        lo->room--;
        lua_push(h, lo, p, osize);
        return b;
    }
    int64_t credit = nsize < osize ? (int64_t)osize : 0;
    pa_heap_give(h, credit);
    void *q = lua_take(h, nsize);
    if (!q) q = pool_heap_malloc(heap, nsize);
    pa_heap_give(h, -credit);
    if (!q) return NULL;
    memcpy(q, p, osize < nsize ? osize : nsize);
    pool_heap_lua_alloc(heap, p, osize, 0);
    return q;
}

/* The lua_Alloc.  Cost of a malloc served by a list: the dispatch (2),
** size bound and granule (4), list head (3), tag bound (2), limit and
** peak (2), pop (2), room, pops and tag counts (3), return (2).  Of a free
** into a list: the dispatch (4), size bound and granule (4), room (2),
** push (3), live bytes (1), return (2).  Everything else is in the
** functions above, so the common calls save no registers. */
void *pool_heap_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    pool_heap_t *heap = ud;
    pa_heap_t *h = &heap->h;
    if (PA_LIKELY(ptr == NULL)) {
        pa_lua_list_t *l = lua_list(h, nsize);
        pa_block_t *b;
        if (PA_LIKELY(nsize <= PA_SMALL_MAX) && PA_LIKELY((b = l->free) != NULL) && PA_LIKELY(osize < POOL_NTAGS)) {
            /* headroom = min(limit, peak) - live: below 0, a new peak or a refusal. */
            if (PA_UNLIKELY((h->headroom -= (int64_t)nsize) < 0)) return lua_malloc_high(heap, ptr, osize, nsize);
            h->tags[osize]++;
            return lua_pop(l, b, nsize);
        }
        return lua_malloc_slow(heap, ptr, osize, nsize);
    }
    if (PA_LIKELY(nsize == 0)) {
        if (PA_UNLIKELY(osize > PA_SMALL_MAX)) return lua_free_slow(heap, ptr, osize, nsize);
        pa_lua_list_t *l = lua_list(h, osize);
        if (PA_UNLIKELY(--l->room < 0)) return lua_free_full(heap, ptr, osize, nsize);
        lua_push(h, l, ptr, osize);
        return NULL;
    }
    return lua_realloc(heap, ptr, osize, nsize);
}

/* Per-class allocs and frees of h's lists, added to allocs[] and frees[]:
** a pop is an alloc and a free (the push before it), a kept block a free. */
void pa_lua_counts(const pa_heap_t *h, uint64_t allocs[PA_NCLASSES], uint64_t frees[PA_NCLASSES]) {
    for (size_t g = 1; g < PA_DIRECT; g++) {
        unsigned c = pa_direct_class[g];
        uint64_t pops = PA_CNT_GET(h->lua[g].pops);
        int64_t kept = (int64_t)PA_CNT_GET(h->lua[g].cap) - PA_CNT_GET(h->lua[g].room);
        allocs[c] += pops;
        frees[c] += pops + (uint64_t)(kept > 0 ? kept : 0);
    }
}

/* A heap being destroyed: its lists go with its pages; their pops are
** folded into its class counts. */
void pa_lua_drop(pa_heap_t *h) {
    if (!h->lua_open) return;
    uint64_t allocs[PA_NCLASSES] = {0}, frees[PA_NCLASSES] = {0};
    pa_lua_counts(h, allocs, frees);
    for (unsigned c = 0; c < PA_NCLASSES; c++) {
        PA_CNT_ADD(h->count[c].allocs, allocs[c]);
        PA_CNT_ADD(h->count[c].frees, frees[c]);
    }
    memset(h->lua, 0, sizeof h->lua);
    h->lua_grown = 0;
    h->lua_open = 0;
}

/* The blocks go back to their pages.  The free of each was counted by its
** list's length; pool_heap_free_sized counts it again as the list
** shrinks, and gives back bytes that the push gave back already. */
size_t pool_heap_lua_flush(pool_heap_t *heap) {
    if (!heap) return 0;
    pa_heap_t *h = &heap->h;
    size_t n = 0;
    for (size_t g = 1; g < PA_DIRECT; g++) {
        size_t size = pa_class_size[pa_direct_class[g]];
        pa_block_t *b;
        while ((b = h->lua[g].free) != NULL) {
            PA_TOOL_INTERNAL(b, sizeof b->next);
            h->lua[g].free = (pa_block_t *)b->next;
            h->lua[g].room++;
            PA_TOOL_ALLOC(b, size, 0);
            pa_heap_give(h, -(int64_t)size);
            pool_heap_free_sized(heap, b, size);
            n++;
        }
    }
    return n;
}
