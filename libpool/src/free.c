/*
** free.c -- libpool's free and realloc paths: the owner's lock-free fast
** path, the deferred (atomic) path for blocks of other threads' pages, and
** the checks that turn a double, interior or foreign free into an abort.
*/
#include "internal.h"

/* Push b on pg's local free list.  Owner only.  The store to pg->free
** sits between b's two words so the compiler keeps them two plain stores
** (merged, they cost five vector instructions). */
PA_INLINE void page_push(pa_page_t *pg, pa_block_t *b) {
    b->next = pa_encode(pg->free);
    pg->free = b;
    if (PA_CHECKS) b->freed = pa_g.key;
}

/* An empty page that is not its class's only one goes to the heap's cache
** or back to its segment, which may madvise or munmap: free never changes
** errno (programs check errno after calls that free), so only this rare
** path pays for keeping it. */
static PA_NOINLINE void page_retire_keep_errno(pa_heap_t *h, pa_page_t *pg) {
    int saved = errno;
    pa_page_retire(h, pg);
    errno = saved;
}

/* Where a page empties.  Cost when it is its class's only page (a window
** of blocks that comes and goes): the pa_page_sole test and, for a medium
** class, a clock read for cache_medium (page.c); no call. */
PA_INLINE void page_emptied(pa_heap_t *h, pa_page_t *pg) {
    if (!pa_page_sole(h, pg)) page_retire_keep_errno(h, pg);
    else if (pg->slices > 1) pg->retired_ms = pa_clock_ms();
}

/* One block fewer in use; true when the page is now empty (the caller
** retires it, with the heap it has or reads). */
PA_INLINE bool page_unuse(pa_page_t *pg) {
    uint32_t used = PA_CNT_GET(pg->used) - 1;
    PA_CNT_SET(pg->used, used);
    return PA_UNLIKELY(used == 0);
}

/* Local free that the fast path declined: a parked page, debug or tools. */
void pa_free_local(pa_heap_t *h, pa_page_t *pg, pa_block_t *b) {
    /* A block freed twice by racing threads can pass the marker check;
    ** here it would take used below zero. */
    if (PA_UNLIKELY(PA_CNT_GET(pg->used) == 0)) pa_fault("double free of", b, pg->block_size);
    if (pg->in_full) pa_page_unfull(h, pg);
    PA_TOOL_FREE(b);
    PA_TOOL_INTERNAL(b, sizeof *b);
    page_push(pg, b);
    PA_TOOL_NOACCESS(b, pg->block_size);
    if (page_unuse(pg)) page_emptied(h, pg);
}

/* A block of a page this thread does not own.  Normally: push it on the
** page's atomic list; its owner collects it when it next runs out.  If the
** page is parked (NOTIFY), its owner is not looking at it: take the page
** to BUSY, hand the block to the owner heap's delayed list, and set the
** page NORMAL.  The owner waits out BUSY before it lets the page (or the
** heap) go, so the heap read here is the page's owner while it is used;
** and the block pins its page (it still counts in `used`) until the owner
** frees it.  A block is on one list once: no list can become cyclic.
** Cost: one CAS when the page is not parked; four when it is. */
static void remote_free(pa_page_t *pg, pa_block_t *b) {
    PA_TOOL_FREE(b);
    PA_TOOL_INTERNAL(b, sizeof *b);
    b->freed = pa_g.key;
    uintptr_t tf = atomic_load_explicit(&pg->xthread_free, memory_order_relaxed);
    for (;;) {
        if (PA_TF_STATE(tf) == PA_TF_NOTIFY) {
            if (atomic_compare_exchange_weak_explicit(&pg->xthread_free, &tf, (tf & ~(uintptr_t)PA_TF_MASK) | PA_TF_BUSY,
                                                      memory_order_acquire, memory_order_relaxed))
                break;
            continue;
        }
        b->next = pa_encode(PA_TF_BLOCK(tf));
        if (atomic_compare_exchange_weak_explicit(&pg->xthread_free, &tf, (uintptr_t)b | PA_TF_STATE(tf),
                                                  memory_order_release, memory_order_relaxed))
            return;
    }
    pa_heap_t *o = atomic_load_explicit(&pg->owner, memory_order_acquire);
    PA_ASSERT(o != NULL);
    pa_block_t *top = atomic_load_explicit(&o->delayed, memory_order_relaxed);
    do {
        b->next = pa_encode(top);
    } while (!atomic_compare_exchange_weak_explicit(&o->delayed, &top, b, memory_order_release,
                                                    memory_order_relaxed));
    tf = atomic_load_explicit(&pg->xthread_free, memory_order_relaxed);
    do {
        PA_ASSERT(PA_TF_STATE(tf) == PA_TF_BUSY);
    } while (!atomic_compare_exchange_weak_explicit(&pg->xthread_free, &tf, tf & ~(uintptr_t)PA_TF_MASK,
                                                    memory_order_release, memory_order_relaxed));
}

/* Count a free of class cls in the freeing heap (or, for a thread that has
** no heap, in the process totals). */
static void count_free(pa_heap_t *h, unsigned cls) {
    if (h != &pa_empty_heap) PA_CNT_ADD(h->count[cls].frees, 1);
    else atomic_fetch_add_explicit(&pa_g.loose_frees[cls], 1, memory_order_relaxed);
}

/* Find and check the page of block p; abort on anything but a block we
** handed out and that is not free. */
static pa_page_t *checked_page(void *p) {
    pa_page_t *pg = pa_page_of(p);
    if (pg == &pa_empty_page) pa_fault("free of a pointer into a released page (double free?)", p, 0);
    if (PA_CHECKS && !pa_block_start(pg, p)) pa_fault("free of an interior pointer", p, pg->block_size);
    pa_block_t *b = p;
    PA_TOOL_INTERNAL(b, sizeof *b);
    if (PA_CHECKS && b->freed == pa_g.key) pa_fault("double free of", p, pg->block_size);
    return pg;
}

/* Large block of map entry e at p, checked. */
static pa_large_t *checked_large(void *p, unsigned e) {
    pa_large_t *lg = pa_large_header(p, e);
    if (lg->magic != (pa_g.key ^ (uintptr_t)lg)) pa_fault("free of a corrupted large block", p, 0);
    if ((uint8_t *)p != (uint8_t *)lg + lg->offset) pa_fault("free of an interior pointer", p, pa_large_usable(lg));
    return lg;
}

/* "The caller did not say the request size": 0 cannot mean that, since
** a sized heap's malloc(0) is freed and resized with size 0. */
#define PA_NOSIZE SIZE_MAX

/* The end of every checked free of a small block b of pg (already counted
** as freed by h). */
static void free_block(pa_heap_t *h, pa_page_t *pg, pa_block_t *b) {
    pa_heap_t *owner = atomic_load_explicit(&pg->owner, memory_order_acquire);
    if (owner == h && h != &pa_empty_heap) pa_free_local(h, pg, b);
    else remote_free(pg, b);
}

/* Thread exit of a debug heap: its quarantined blocks are freed. */
void pa_quarantine_flush(pa_heap_t *h) {
    void *p;
    while ((p = pa_debug_quarantine_take())) free_block(h, pa_page_of(p), p);
}

/* Every free the fast paths declined.  `h` is the freeing heap (the
** thread's, or a first-class heap freeing its own blocks); `size` is the
** request for sized frees, else PA_NOSIZE. */
PA_NOINLINE void pa_free_slow(pa_heap_t *h, void *p, size_t size) {
    if (!p) return;
    unsigned e = pa_map_get((uintptr_t)p);
    if (e == PA_MAP_NONE) pa_fault("free of a pointer not allocated by poolalloc:", p, 0);
    if (e >= PA_MAP_LARGE) {
        pa_large_t *lg = checked_large(p, e);
        int saved = errno;                  /* munmap: free keeps errno */
        pa_large_free(h, lg);
        errno = saved;
        return;
    }
    pa_page_t *pg = checked_page(p);
    pa_heap_t *owner = atomic_load_explicit(&pg->owner, memory_order_acquire);
    if (h->kind == PA_HEAP_USER && owner == h)
        pa_heap_give(h, (int64_t)(h->sized && size != PA_NOSIZE ? size : pg->debug ? pa_debug_request(pg, p) : pg->block_size));
    if (pg->debug) {
        pa_debug_on_free(pg, p);
        /* Thread heaps only: a first-class heap may be destroyed while
        ** its blocks wait. */
        if (h->kind == PA_HEAP_THREAD && h == pa_tls_heap) {
            count_free(h, pg->cls);             /* the stats see it freed now */
            if (!(p = pa_debug_quarantine(p))) return;
            free_block(h, pa_page_of(p), p);
            return;
        }
    }
    count_free(h, pg->cls);
    free_block(h, pg, p);
}

/* The fast paths' slow ends read the TLS heap themselves, so that the
** fast paths, which do not need it, do not load it. */
static PA_NOINLINE void retire_tls(pa_page_t *pg) { page_emptied(pa_tls_heap, pg); }

/* A block of another heap's page, freed by this thread (the producer and
** consumer pattern): the checks of pa_free_slow, once each, straight to
** remote_free; a thread with no heap yet makes it here (heap.c,
** pa_heap_thread_for_free).  Parked and debug cases, frees after the
** thread's exit, and faults take pa_free_slow.  The owner is read
** relaxed: only this thread makes h the owner of a page, and a block pins
** its page (used) while it is live.
** (The empty page fails the block-start test: nothing is carved in it.)
** Cost (callgrind, bench_pairs prodcons): 84 instructions a remote free
** with pool_free's fast test and remote_free, 114 through pa_free_slow. */
static PA_NOINLINE void free_slow_tls(void *p) {
    pa_heap_t *h = pa_tls_heap;
    if (PA_LIKELY(pa_map_get((uintptr_t)p) == PA_MAP_SEGMENT)) {
        if (PA_UNLIKELY(h == &pa_empty_heap)) h = pa_heap_thread_for_free();   /* not for free(NULL) */
        pa_page_t *pg = pa_page_of(p);
        pa_block_t *b = p;
        if (PA_LIKELY(atomic_load_explicit(&pg->owner, memory_order_relaxed) != h && !pg->debug &&
                      h != &pa_empty_heap && (PA_CHECKS ? pa_block_start(pg, p) : pg != &pa_empty_page)) &&
            (PA_TOOL_INTERNAL(b, sizeof *b), PA_LIKELY(!PA_CHECKS || b->freed != pa_g.key))) {
            PA_CNT_ADD(h->count[pg->cls].frees, 1);
            remote_free(pg, b);
            return;
        }
    }
    pa_free_slow(h, p, PA_NOSIZE);
}

/* The fast path of pool_free, pool_free_block and pool_fallback_free: p
** is a block of one of this thread's pages that is not parked.  `start`:
** the caller does not promise a block, so the block-start test runs even
** where POOL_NO_CHECKS compiled it out of pool_free.
** Cost (callgrind, pool_free): map check (7), page lookup (6), owner
** check (4: the page's fast key against the thread pointer, no TLS
** lookup), interior check (6), double-free check (3), push (5), counter
** (2), used (2); no lock, no atomic instruction.  False: the caller takes
** a slow path. */
PA_INLINE bool free_fast(void *p, bool start) {
    if (PA_LIKELY(pa_map_get((uintptr_t)p) == PA_MAP_SEGMENT)) {
        pa_page_t *pg = pa_page_of(p);
        pa_block_t *b = p;
        if (PA_LIKELY(atomic_load_explicit(&pg->fast, memory_order_relaxed) == PA_THREAD_KEY() &&
                      (!(PA_CHECKS || start) || pa_block_start(pg, p))) &&
            (PA_TOOL_INTERNAL(b, sizeof *b), PA_LIKELY(!PA_CHECKS || b->freed != pa_g.key))) {
            page_push(pg, b);
            PA_TOOL_FREE(b);
            PA_TOOL_NOACCESS(b, pg->block_size);
            PA_CNT_ADD(pg->count->frees, 1);
            if (page_unuse(pg)) retire_tls(pg);
            return true;
        }
    }
    return false;
}

void pool_free(void *p) {
    if (PA_LIKELY(free_fast(p, false))) return;
    free_slow_tls(p);
}

/* A free the fast path declined, of a pool block or another allocator's. */
static PA_NOINLINE void fallback_free_slow(const pool_fallback_t *fb, void *p) {
    if (pa_is_block(p)) pa_free_slow(pa_tls_heap, p, PA_NOSIZE);
    else if (p) fb->free(fb->ctx, p);
}

/* pool_free's cost, plus the block-start test that tells an interior
** pointer (another allocator's block carved from ours) from ours (2). */
void pool_fallback_free(void *fallback, void *p) {
    if (PA_LIKELY(free_fast(p, true))) return;
    fallback_free_slow(fallback, p);
}

int pool_free_block(void *p) {
    if (PA_LIKELY(free_fast(p, true))) return 1;
    if (!pa_is_block(p)) return 0;
    pa_free_slow(pa_tls_heap, p, PA_NOSIZE);
    return 1;
}

void pool_heap_free(pool_heap_t *heap, void *p) {
    if (PA_UNLIKELY(!heap)) { pool_free(p); return; }
    pa_free_slow(&heap->h, p, PA_NOSIZE);
}

/* The caller vouches for p and its size: no map lookup, no interior check;
** the page comes from p's address.  Cost: ~16 instructions. */
void pool_heap_free_sized(pool_heap_t *heap, void *p, size_t size) {
    if (PA_UNLIKELY(!heap)) { pool_free(p); return; }
    pa_heap_t *h = &heap->h;
    /* A debug heap serves size + PA_DEBUG_EXTRA, so its blocks just under
    ** PA_MAX_CLASS are large, and so is its malloc(0) (a guard page): those
    ** take the slow path. */
    if (PA_LIKELY(p && (size - 1 < PA_MAX_CLASS - PA_DEBUG_EXTRA || (size <= PA_MAX_CLASS && !h->debug)))) {
        pa_page_t *pg = pa_page_of(p);
        pa_block_t *b = p;
        if (PA_LIKELY(atomic_load_explicit(&pg->fast, memory_order_relaxed) == h) &&
            (PA_TOOL_INTERNAL(b, sizeof *b), PA_LIKELY(!PA_CHECKS || b->freed != pa_g.key))) {
            assert(pg->cls == pa_class_of(size));
            page_push(pg, b);
            PA_TOOL_FREE(b);
            PA_TOOL_NOACCESS(b, pg->block_size);
            pa_heap_give(h, (int64_t)(h->sized ? size : pg->block_size));
            PA_CNT_ADD(pg->count->frees, 1);
            if (page_unuse(pg)) page_emptied(h, pg);
            return;
        }
    }
    pa_free_slow(h, p, size);
}

/* ---- sizes and realloc ---- */

/* Usable bytes of a live block (the request, in debug mode). */
static size_t block_usable(void *p, unsigned e) {
    if (e >= PA_MAP_LARGE) return pa_large_usable(checked_large(p, e));
    pa_page_t *pg = checked_page(p);
    return pg->debug ? pa_debug_request(pg, p) : pg->block_size;
}

size_t pool_usable_size(const void *p) {
    if (!p) return 0;
    unsigned e = pa_map_get((uintptr_t)p);
    if (e == PA_MAP_NONE) pa_fault("usable_size of a pointer not allocated by poolalloc:", p, 0);
    return block_usable((void *)p, e);
}

/* A block of heap h stays in its class going from o to n requested bytes:
** a sized heap counts the difference, under its limit. */
static bool resize_in_place(pa_heap_t *h, size_t o, size_t n) {
    if (!h->sized) return true;
    if (n > o && !pa_heap_take(h, n - o)) { errno = ENOMEM; return false; }
    if (n < o) pa_heap_give(h, (int64_t)(o - n));
    return true;
}

/* A small block of pg keeps a request of n bytes: n maps to its class,
** or a shrink leaves at most a quarter of it unused.  CPython's strings,
** bytes and lists shrink by a little after they are built, and pymalloc
** keeps such blocks in place the same way rather than copy them. */
PA_INLINE bool keeps_in_place(const pa_page_t *pg, size_t n) {
    return n <= PA_MAX_CLASS && (pa_class_of(n) == pg->cls || (n <= pg->block_size && 4 * n >= 3 * (size_t)pg->block_size));
}

/* Count a realloc in heap h (not for a thread that has no heap); returns h. */
PA_INLINE pa_heap_t *count_realloc(pa_heap_t *h) {
    if (h != &pa_empty_heap) PA_CNT_ADD(h->reallocs, 1);
    return h;
}

/* realloc for heap h (first-class, or NULL for the thread's heap).  Stays
** in place when the block keeps n (keeps_in_place); a large block is
** resized with mremap; otherwise allocate, copy, free.  On failure p is
** untouched.  `oldsize` is the caller's size for sized heaps, else
** PA_NOSIZE. */
static PA_NOINLINE void *realloc_in(pa_heap_t *h, void *p, size_t oldsize, size_t n) {
    pa_heap_t *counted = count_realloc(h ? h : pa_tls_heap);
    unsigned e = pa_map_get((uintptr_t)p);
    if (e == PA_MAP_NONE) pa_fault("realloc of a pointer not allocated by poolalloc:", p, 0);
    size_t old = block_usable(p, e);
    size_t said = oldsize != PA_NOSIZE ? oldsize : old;
    if (e == PA_MAP_SEGMENT) {
        pa_page_t *pg = pa_page_of(p);
        if (!pg->debug && keeps_in_place(pg, n)) {
            if (h && atomic_load_explicit(&pg->owner, memory_order_relaxed) == h &&
                !resize_in_place(h, said, n))
                return NULL;
            return p;
        }
    } else if (n > PA_MAX_CLASS) {
        pa_large_t *lg = pa_large_header(p, e);
        if (!lg->debug) return pa_large_realloc(h ? h : counted, lg, n);
    }
    /* A sized heap holds a shrink to its limit as if the old block were gone. */
    int64_t credit = h && h->sized && n < said ? (int64_t)said : 0;
    if (credit) pa_heap_give(h, credit);
    void *q = h ? pool_heap_malloc((pool_heap_t *)h, n) : pool_malloc(n);
    if (credit) pa_heap_give(h, -credit);
    if (!q) return NULL;
    size_t keep = said < old ? said : old;
    memcpy(q, p, keep < n ? keep : n);
    if (h) pool_heap_free_sized((pool_heap_t *)h, p, said);
    else pool_free(p);
    return q;
}

/* p's page when p is the start of a live block of a page that is not in
** debug mode, else NULL: checked_page's checks, once each, without its
** faults (realloc_in makes them).  The empty page fails the block-start
** test: nothing is carved in it. */
PA_INLINE pa_page_t *live_small_page(void *p) {
    if (PA_UNLIKELY(pa_map_get((uintptr_t)p) != PA_MAP_SEGMENT)) return NULL;
    pa_page_t *pg = pa_page_of(p);
    pa_block_t *b = p;
    if (PA_UNLIKELY(!pa_block_start(pg, p) || pg->debug)) return NULL;
    PA_TOOL_INTERNAL(b, sizeof *b);
    return PA_LIKELY(b->freed != pa_g.key) ? pg : NULL;
}

/* The end of realloc_move out of a medium class's page: free p, and if
** that emptied its heap's only page of the class, shed the page to the
** heap's cache at once (pa_page_shed), where a free would keep it: a
** buffer that grows by realloc through the medium classes otherwise left
** each class an empty page with the block it had written, about 1 MiB
** from 8 to 128 KiB, where now the chain's next page request takes the
** page it shed. */
static PA_NOINLINE void *move_out_of_medium(pa_page_t *pg, void *p, void *q) {
    /* Read while p holds pg: once p is freed, another thread's page may go. */
    pa_heap_t *h = pa_tls_heap;
    bool mine = atomic_load_explicit(&pg->owner, memory_order_relaxed) == h;
    pool_free(p);
    if (mine && PA_CNT_GET(pg->used) == 0 && pa_page_sole(h, pg)) pa_page_shed(h, pg);
    return q;
}

/* The thread heap's realloc of a checked small block of pg to a class it
** does not keep: a new block, a copy, a free.  Cost of the shed for a
** block of a 1-slice page: a load and a compare. */
static PA_NOINLINE void *realloc_move(pa_page_t *pg, void *p, size_t n) {
    void *q = pool_malloc(n);
    if (!q) return NULL;
    memcpy(q, p, pg->block_size < n ? pg->block_size : n);
    if (PA_UNLIKELY(pg->slices > 1)) return move_out_of_medium(pg, p, q);
    pool_free(p);
    return q;
}

/* The thread heap's realloc of a small block: in place when the block
** keeps n (keeps_in_place), else realloc_move; a large, debug, foreign or
** faulty pointer takes realloc_in.  Cost (callgrind, a loop of reallocs
** of 100 to 107 bytes): 64 instructions a call in place, against 126
** through realloc_in, where every call paid for saving the registers its
** copies and calls need. */
PA_INLINE void *realloc_small(pa_page_t *pg, void *p, size_t n) {
    count_realloc(pa_tls_heap);          /* as realloc_in: counted if it fails too */
    return keeps_in_place(pg, n) ? p : realloc_move(pg, p, n);
}

void *pool_realloc(void *p, size_t n) {
    if (!p) return pool_malloc(n);
    pa_page_t *pg = live_small_page(p);
    if (PA_LIKELY(pg != NULL)) return realloc_small(pg, p, n);
    return realloc_in(NULL, p, PA_NOSIZE, n);
}

void *pool_fallback_realloc(void *fallback, void *p, size_t n) {
    if (!p) return pool_malloc(n);
    pa_page_t *pg = live_small_page(p);
    if (PA_LIKELY(pg != NULL)) return realloc_small(pg, p, n);
    if (pa_is_block(p)) return realloc_in(NULL, p, PA_NOSIZE, n);
    const pool_fallback_t *fb = fallback;
    return fb->realloc(fb->ctx, p, n);
}

void *pool_heap_realloc(pool_heap_t *heap, void *p, size_t n) {
    if (!heap) { errno = EINVAL; return NULL; }
    if (!p) return pool_heap_malloc(heap, n);
    return realloc_in(&heap->h, p, PA_NOSIZE, n);
}

/* Trusts oldsize like pool_heap_free_sized: between small sizes it needs
** no lookup at all, only the two classes. */
void *pool_heap_realloc_sized(pool_heap_t *heap, void *p, size_t oldsize, size_t newsize) {
    if (!heap) { errno = EINVAL; return NULL; }
    if (!p) return pool_heap_malloc(heap, newsize);
    pa_heap_t *h = &heap->h;
    if (oldsize <= PA_MAX_CLASS && newsize <= PA_MAX_CLASS && !h->debug) {
        PA_CNT_ADD(h->reallocs, 1);
        if (pa_class_of(oldsize) == pa_class_of(newsize)) return resize_in_place(h, oldsize, newsize) ? p : NULL;
        /* A shrink is held to the limit as if the old block were gone. */
        int64_t credit = h->sized && newsize < oldsize ? (int64_t)oldsize : 0;
        pa_heap_give(h, credit);
        void *q = pool_heap_malloc(heap, newsize);
        pa_heap_give(h, -credit);
        if (!q) return NULL;
        memcpy(q, p, oldsize < newsize ? oldsize : newsize);
        pool_heap_free_sized(heap, p, oldsize);
        return q;
    }
    return realloc_in(h, p, oldsize, newsize);
}
