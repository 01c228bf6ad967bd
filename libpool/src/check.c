/*
** check.c -- libpool's invariant checker: every page list of a heap walked
** (acyclic, doubly linked, each page on exactly one list), every page's
** free list and counts, the page states of README.md's table, its own
** segments, and, under the lock, the orphan lists and every segment's
** slice bookkeeping (under the segment's lock).  Tests
** call it through pool_check(); PA_CHECK_LEVEL 2 builds call it at every
** page acquire.  A broken invariant is one line on stderr, then abort.
*/
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

/* "poolalloc: invariant broken: <what> (file:line)" and abort. */
void pa_assert_fail(const char *expr, const char *file, int line) {
    char msg[320];
    int n = snprintf(msg, sizeof msg, "poolalloc: invariant broken: %s (%s:%d)\n", expr, file, line);
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
        (void)w;
    }
    abort();
}

/* A check that holds in every build: pool_check() is asked for. */
#define VERIFY(c, pg) ((c) ? (void)0 : broken(#c, (pg), __LINE__))

static PA_NORETURN void broken(const char *what, const pa_page_t *pg, int line) {
    char msg[320];
    int n = snprintf(msg, sizeof msg, "poolalloc: invariant broken: %s (page %p, %u-byte blocks; check.c:%d)\n", what,
                     (const void *)pg, pg ? pg->block_size : 0u, line);
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
        (void)w;
    }
    abort();
}

/* One page's own invariants: geometry, its slices in the segment map, its
** local free list (in bounds, on block starts, marked free, acyclic), and
** used + local free == carved.  Remote frees still count in `used`, so the
** identity holds whatever other threads are doing.  Returns the number of
** free blocks on the local list. */
size_t pa_page_check(const pa_page_t *pg) {
    VERIFY(pg->cls < PA_NCLASSES && pg->block_size == pa_class_size[pg->cls], pg);
    const pa_segment_t *s = pa_segment_of(pg);
    VERIFY(pg == &s->pages[pg->index] && pg->index >= 1 && pg->index + pg->slices <= PA_SLICES, pg);
    for (unsigned i = 0; i < pg->slices; i++) VERIFY(s->slice_page[pg->index + i] == pg, pg);
    VERIFY(pg->start == (const uint8_t *)s + (size_t)pg->index * PA_SLICE_SIZE, pg);
    VERIFY(pg->reserved == (uint32_t)(((size_t)pg->slices * PA_SLICE_SIZE - PA_GUARD) / pg->block_size), pg);
    uint32_t cap = (uint32_t)PA_CNT_GET(pg->capacity), used = PA_CNT_GET(pg->used);
    VERIFY(cap <= pg->reserved && used <= cap, pg);
    VERIFY(pg->block_size >> pg->shift & 1 && (pg->block_size >> pg->shift) * pg->inv == 1, pg);
    size_t nfree = 0;
    for (const pa_block_t *b = pg->free; b != PA_END(pg);) {
        VERIFY(++nfree <= cap, pg);   /* more free blocks than carved: a cycle */
        VERIFY(pa_block_ok(b, pg) && (const uint8_t *)b >= pg->start && pa_block_start(pg, b), pg);
        PA_TOOL_INTERNAL((void *)b, sizeof *b);
        VERIFY(!PA_CHECKS || b->freed == pa_g.key, pg);
        const pa_block_t *next = pa_decode(b->next);
        PA_TOOL_NOACCESS((void *)b, pg->block_size);
        b = next;
    }
    VERIFY(used + nfree == cap, pg);
    return nfree;
}

/* One list of pages of heap h: doubly linked, acyclic, each page seen
** once in the whole heap (the walk's stamp), each in the state its list
** says.  kind: 0 class list (of class cls), 1 full list, 2 empty cache.  Returns the
** number of pages. */
static size_t check_list(pa_heap_t *h, uint32_t epoch, const pa_page_list_t *l, int kind, unsigned cls,
                         int64_t *pages, int64_t *blocks) {
    size_t n = 0;
    const pa_page_t *prev = NULL;
    for (pa_page_t *pg = l->first; pg; prev = pg, pg = pg->next) {
        VERIFY(pg->prev == prev, pg);
        VERIFY(pg->check_mark != epoch, pg);   /* on two lists, or a cycle */
        pg->check_mark = epoch;
        VERIFY(pa_segment_of(pg)->slice_page[pg->index] == pg, pg);   /* its span is allocated */
        VERIFY(atomic_load_explicit(&pg->owner, memory_order_relaxed) == h, pg);
        VERIFY(pg->debug == h->debug, pg);
        pa_page_check(pg);
        uintptr_t tf = atomic_load_explicit(&pg->xthread_free, memory_order_acquire);
        const void *fast = atomic_load_explicit(&pg->fast, memory_order_relaxed);
        if (kind == 0) {
            VERIFY(pg->cls == cls && !pg->in_full, pg);
            VERIFY(PA_TF_STATE(tf) != PA_TF_NOTIFY, pg);      /* NOTIFY only while parked */
            VERIFY(fast == (pg->debug ? NULL : h->fast_key) && pg->count == &h->count[cls], pg);
        } else if (kind == 1) {
            VERIFY(pg->in_full && fast == NULL, pg);
            VERIFY(pg->free == PA_END(pg) && PA_CNT_GET(pg->capacity) == pg->reserved, pg);
            /* Parked pages are NOTIFY until a remote free hands the owner a
            ** block (BUSY, then NORMAL with the block on h->delayed). */
            VERIFY(PA_TF_STATE(tf) == PA_TF_NOTIFY ? PA_TF_BLOCK(tf) == NULL
                                                   : atomic_load(&h->delayed) != NULL || PA_TF_STATE(tf) == PA_TF_BUSY,
                   pg);
        } else {
            VERIFY(!pg->in_full && fast == NULL && PA_CNT_GET(pg->used) == 0, pg);
            VERIFY(PA_TF_STATE(tf) == PA_TF_NORMAL, pg);
        }
        if (kind != 2) {
            pages[pg->cls]++;
            blocks[pg->cls] += pg->reserved;
        }
        n++;
    }
    VERIFY(l->last == prev, prev);
    return n;
}

/* Every invariant of heap h that its owner can see: its lists, its pages,
** its counts and its allocation pointers.  Owner only (or quiescent).
** Returns the number of pages. */
size_t pa_heap_check(pa_heap_t *h) {
    if (h == &pa_empty_heap) return 0;
    /* A stamp no other walk used: pages move between heaps. */
    static _Atomic uint32_t epochs;
    uint32_t epoch = atomic_fetch_add_explicit(&epochs, 1, memory_order_relaxed) + 1;
    if (epoch == 0) epoch = atomic_fetch_add_explicit(&epochs, 1, memory_order_relaxed) + 1;
    int64_t pages[PA_NCLASSES] = {0}, blocks[PA_NCLASSES] = {0};
    size_t n = 0;
    for (unsigned c = 0; c < PA_NCLASSES; c++) {
        n += check_list(h, epoch, &h->avail[c], 0, c, pages, blocks);
        /* The allocation pointers lead to the head of the class list. */
        const pa_page_t *want = h->avail[c].first && !h->debug ? h->avail[c].first : &pa_empty_page;
        VERIFY(h->curr[c] == want, h->curr[c]);
        if (pa_class_size[c] <= PA_SMALL_MAX) VERIFY(h->direct[pa_class_size[c] >> 4] == want, h->curr[c]);
    }
    n += check_list(h, epoch, &h->full, 1, 0, pages, blocks);
    /* Its segments: a doubly linked list of segments that name it. */
    const pa_segment_t *sprev = NULL;
    for (const pa_segment_t *s = h->segs; s; sprev = s, s = s->hnext)
        VERIFY(atomic_load_explicit(&s->heap, memory_order_relaxed) == h && s->hprev == sprev, NULL);
    size_t nempty = 0, empty_bytes = 0, carved = 0;
    for (unsigned k = 0; k < PA_SPAN_KINDS; k++) {
        nempty += check_list(h, epoch, &h->empty[k], 2, k, pages, blocks);
        uint64_t newer = UINT64_MAX;   /* newest first */
        for (const pa_page_t *pg = h->empty[k].first; pg; pg = pg->next) {
            VERIFY(pa_span_kind(pg->slices) == k && pg->retired_ms <= newer, pg);
            newer = pg->retired_ms;
            empty_bytes += (size_t)pg->slices * PA_SLICE_SIZE;
            carved += pa_page_carved_medium(pg);
        }
    }
    VERIFY(nempty == h->nempty && empty_bytes == h->empty_bytes && carved == h->cache_carved, NULL);
    for (unsigned c = 0; c < PA_NCLASSES; c++) {
        VERIFY(pages[c] == PA_CNT_GET(h->class_pages[c]), h->avail[c].first);
        VERIFY(blocks[c] == PA_CNT_GET(h->class_blocks[c]), h->avail[c].first);
    }
    /* Every delayed block is a block of one of h's parked-or-unparked
    ** pages, marked free; the walk is bounded by the blocks h holds. */
    int64_t bound = 0;
    for (unsigned c = 0; c < PA_NCLASSES; c++) bound += blocks[c];
    int64_t k = 0;
    for (pa_block_t *b = atomic_load_explicit(&h->delayed, memory_order_acquire); b;) {
        VERIFY(++k <= bound, NULL);
        VERIFY(pa_map_get((uintptr_t)b) == PA_MAP_SEGMENT, NULL);
        pa_page_t *pg = pa_page_of(b);
        VERIFY(atomic_load_explicit(&pg->owner, memory_order_relaxed) == h && pa_block_start(pg, b), pg);
        PA_TOOL_INTERNAL(b, sizeof *b);
        pa_block_t *next = pa_decode(b->next);
        PA_TOOL_NOACCESS(b, pg->block_size);
        b = next;
    }
    return n + nempty;
}

/* The process-wide structures, under the lock: each orphan list, the
** segments' free and dirty masks against their slice pages. */
static size_t check_global(void) {
    size_t n = 0;
    pa_lock();
    for (unsigned c = 0; c < PA_NCLASSES; c++) {
        int64_t pages = 0, blocks = 0;
        const pa_page_t *prev = NULL;
        for (pa_page_t *pg = pa_g.orphans[c].first; pg; prev = pg, pg = pg->next) {
            VERIFY(pg->prev == prev && pg->cls == c && pa_segment_of(pg)->slice_page[pg->index] == pg && !pg->in_full, pg);
            VERIFY(atomic_load_explicit(&pg->owner, memory_order_relaxed) == NULL, pg);
            VERIFY(atomic_load_explicit(&pg->fast, memory_order_relaxed) == NULL, pg);
            VERIFY(PA_TF_STATE(atomic_load_explicit(&pg->xthread_free, memory_order_relaxed)) == PA_TF_NORMAL, pg);
            VERIFY(++pages <= pa_g.orphan_pages[c], pg);
            blocks += pg->reserved;
            pa_page_check(pg);
        }
        VERIFY(pages == pa_g.orphan_pages[c] && blocks == pa_g.orphan_blocks[c], pa_g.orphans[c].first);
        n += (size_t)pages;
    }
    for (pa_segment_t *s = pa_g.segments; s; s = s->next) {
        pa_segment_lock(s);
        pa_heap_t *o = atomic_load_explicit(&s->heap, memory_order_relaxed);
        VERIFY(!o || !o->dead, NULL);   /* a heap's segments go when it does */
        VERIFY((s->dirty_mask & ~s->free_mask) == 0 && !(s->free_mask & 1), NULL);
        for (unsigned i = 1; i < PA_SLICES;) {
            pa_page_t *pg = s->slice_page[i];
            if (s->free_mask >> i & 1) {
                VERIFY(pg == &pa_empty_page, NULL);
                i++;
                continue;
            }
            VERIFY(pg == &s->pages[i] && pg->slices >= 1, pg);
            i += pg->slices;
        }
        pa_segment_unlock(s);
    }
    pa_unlock();
    return n;
}

long pool_check(void) {
    pa_init();
    size_t n = pa_heap_check(pa_tls_heap);
    return (long)(n + check_global());
}

long pool_heap_check(pool_heap_t *heap) {
    if (!heap) { errno = EINVAL; return -1; }
    return (long)pa_heap_check(&heap->h);
}
