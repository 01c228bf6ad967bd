/*
** alloc.c -- libpool's allocation paths: pool_malloc and friends for the
** calling thread's heap, pool_heap_malloc and friends for first-class
** heaps, and the shared slow path that finds or makes a page.
*/
#include "internal.h"

/* Pop the first free block of pg, or NULL when the list is empty (or its
** head is not a block of this segment: the slow path tells which).
** Cost: 2 loads, 1 xor-compare, 1 decode, 2 stores, 1 add. */
PA_INLINE pa_block_t *page_pop(pa_page_t *pg) {
    pa_block_t *b = pg->free;
    if (PA_UNLIKELY(!pa_block_ok(b, pg))) return NULL;
    PA_TOOL_INTERNAL(b, sizeof *b);
    pg->free = pa_decode(b->next);
    if (PA_CHECKS) b->freed = 0;
    PA_CNT_ADD(pg->used, 1);
    return b;
}

/* Bytes a first-class heap counts for a block of class cls asked as n. */
PA_INLINE size_t heap_charge(const pa_heap_t *h, size_t n, size_t usable) {
    return h->sized ? n : usable;
}

/* Smallest class whose blocks are all `align`-aligned and hold n bytes:
** pages start on 64 KiB boundaries, so a class whose size is a multiple of
** align works; the power-of-two classes always do. */
static unsigned aligned_class(size_t n, size_t align) {
    unsigned cls = pa_class_of(n > align ? n : align);
    while (pa_class_size[cls] % align) cls++;
    return cls;
}

/* The slow path of every small allocation: find a block in h's pages of
** class cls, collecting remote frees, carving fresh blocks, parking full
** pages, and taking a new page when all else fails. */
static pa_block_t *heap_alloc_block(pa_heap_t *h, unsigned cls, pa_page_t **where) {
    if (PA_UNLIKELY(++h->beat >= PA_BEAT_CALLS)) pa_heap_beat(h);
    pa_heap_drain_delayed(h);
    pa_page_t *pg = h->avail[cls].first;
    for (;;) {
        if (!pg && !(pg = pa_heap_acquire_page(h, cls))) return NULL;
        pa_block_t *b = page_pop(pg);
        if (b) {
            /* The pages before pg went to the full list: the fast path
            ** allocates from pg from now on, not from a full page. */
            if (h->curr[cls] != pg && !h->debug) pa_heap_point(h, cls, pg);
            *where = pg;
            return b;
        }
        if (pg->free != PA_END(pg)) pa_fault("corrupted free list in page", pg->start, pg->block_size);
        if (pa_page_collect(pg) || pa_page_extend(pg)) continue;
        pa_page_t *next = pg->next;
        if (pa_page_to_full(h, pg)) pg = next;  /* else a remote free got in first: collect it */
    }
}

/* Generic allocation from heap h: every size, alignment, debug and limit. */
void *pa_heap_alloc(pa_heap_t *h, size_t n, size_t align) {
    size_t req = n;
    if (h->debug) {
        if (n == 0) return pa_large_alloc(h, 0, align); /* guarded: see pa_large_alloc */
        if (n > SIZE_MAX - PA_DEBUG_EXTRA) { errno = ENOMEM; return NULL; }
        n += PA_DEBUG_EXTRA;
    }
    if (n > PA_MAX_CLASS || align > PA_SLICE_SIZE) return pa_large_alloc(h, req, align);
    unsigned cls = align > POOL_MIN_ALIGN ? aligned_class(n, align) : pa_class_of(n);
    size_t usable = h->debug ? req : pa_class_size[cls];
    if (h->kind == PA_HEAP_USER && !pa_heap_take(h, heap_charge(h, req, usable))) { errno = ENOMEM; return NULL; }
    pa_page_t *pg;
    pa_block_t *b = heap_alloc_block(h, cls, &pg);
    if (!b) {
        if (h->kind == PA_HEAP_USER) pa_heap_give(h, (int64_t)heap_charge(h, req, usable));
        errno = ENOMEM;
        return NULL;
    }
    PA_CNT_ADD(h->count[cls].allocs, 1);
    if (pg->debug) {
        PA_TOOL_INTERNAL(b, pg->block_size);
        pa_debug_on_alloc(pg, b, req);
        PA_TOOL_NOACCESS(b, pg->block_size);
    }
    PA_TOOL_ALLOC(b, usable, 0);
    return b;
}

/* First allocation of a thread, or any request the fast path declined.
** It reads the TLS heap itself, so the fast path loads it only once n is
** known to be small and keeps n in its register. */
PA_NOINLINE void *pa_malloc_slow(size_t n) {
    pa_heap_t *h = pa_tls_heap;
    if (h == &pa_empty_heap && !(h = pa_heap_thread())) { errno = ENOMEM; return NULL; }
    return pa_heap_alloc(h, n, 0);
}

/* The thread heap's fast path, inlined into pool_malloc and
** pool_fallback_malloc: n <= 1 KiB and the thread's page for it has a free
** block.  Cost (callgrind): 20 instructions, no lock, no atomic. */
PA_INLINE void *thread_malloc(size_t n) {
    if (PA_LIKELY(n <= PA_SMALL_MAX)) {
        pa_heap_t *h = pa_tls_heap;
        pa_page_t *pg = h->direct[(n + 15) >> 4];
        pa_block_t *b = page_pop(pg);
        if (PA_LIKELY(b != NULL)) {
            PA_CNT_ADD(pg->count->allocs, 1);
            PA_TOOL_ALLOC(b, pg->block_size, 0);
            return b;
        }
    }
    return pa_malloc_slow(n);
}

void *pool_malloc(size_t n) { return thread_malloc(n); }

void *pool_fallback_malloc(void *fallback, size_t n) {
    (void)fallback;
    return thread_malloc(n);
}

/* count * n bytes, zeroed; ENOMEM when the product overflows. */
static void *calloc_in(pa_heap_t *h, size_t count, size_t n) {
    size_t total;
    if (__builtin_mul_overflow(count, n, &total)) { errno = ENOMEM; return NULL; }
    void *p = h ? pool_heap_malloc((pool_heap_t *)h, total) : pool_malloc(total);
    if (!p) return NULL;
    /* Fresh large blocks come straight from mmap and are already zero. */
    unsigned e = pa_map_get((uintptr_t)p);
    if (total <= PA_MAX_CLASS || e == PA_MAP_SEGMENT || pa_large_header(p, e)->reused) memset(p, 0, total);
    return p;
}

void *pool_calloc(size_t count, size_t n) { return calloc_in(NULL, count, n); }

void *pool_fallback_calloc(void *fallback, size_t count, size_t n) {
    (void)fallback;
    return calloc_in(NULL, count, n);
}

void *pool_aligned_alloc(size_t align, size_t n) {
    if (align == 0 || (align & (align - 1))) { errno = EINVAL; return NULL; }
    if (align <= POOL_MIN_ALIGN) return pool_malloc(n);
    if (n > SIZE_MAX - align) { errno = ENOMEM; return NULL; }
    pa_heap_t *h = pa_tls_heap;
    if (h == &pa_empty_heap && !(h = pa_heap_thread())) { errno = ENOMEM; return NULL; }
    return pa_heap_alloc(h, n, align);
}

/* ---- first-class heaps ---- */

/* Same fast path as pool_malloc, plus the heap's exact byte count and its
** limit (a load, an add and a compare).  Inlined into both entry points so
** the tagged one (every Lua allocation) costs no extra call. */
PA_INLINE void *heap_malloc(pa_heap_t *h, size_t n) {
    if (PA_LIKELY(n <= PA_SMALL_MAX)) {
        pa_page_t *pg = h->direct[(n + 15) >> 4];
        if (PA_LIKELY(pa_block_ok(pg->free, pg)) && pa_heap_take(h, heap_charge(h, n, pg->block_size))) {
            pa_block_t *b = page_pop(pg);
            PA_CNT_ADD(pg->count->allocs, 1);
            PA_TOOL_ALLOC(b, pg->block_size, 0);
            return b;
        }
    }
    return pa_heap_alloc(h, n, 0);
}

void *pool_heap_malloc(pool_heap_t *heap, size_t n) {
    if (PA_UNLIKELY(!heap)) { errno = EINVAL; return NULL; }
    return heap_malloc(&heap->h, n);
}

void *pool_heap_malloc_tagged(pool_heap_t *heap, size_t n, unsigned tag) {
    if (PA_UNLIKELY(!heap)) { errno = EINVAL; return NULL; }
    void *p = heap_malloc(&heap->h, n);
    if (PA_LIKELY(p != NULL)) PA_CNT_ADD(heap->h.tags[tag < POOL_NTAGS ? tag : 0], 1);
    return p;
}

void *pool_heap_calloc(pool_heap_t *heap, size_t count, size_t n) {
    if (!heap) { errno = EINVAL; return NULL; }
    return calloc_in(&heap->h, count, n);
}
