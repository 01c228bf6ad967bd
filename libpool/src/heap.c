/*
** heap.c -- libpool's heaps: the implicit heap of each thread, first-class
** heaps, the global lock, start-up, thread exit and fork.
*/
#include <stdlib.h>
#include <sys/mman.h>

#include "internal.h"

pa_global_t pa_g = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .limit = SIZE_MAX,
};

/* The page every empty slot points at: its free list is empty (it ends at
** itself) and no heap owns it, so every fast path falls through. */
pa_page_t pa_empty_page = { .free = (pa_block_t *)&pa_empty_page };

/* Each thread starts on this heap; its first malloc makes a real one.  It
** is valid before pa_init() runs, so the fast paths need no init check. */
pa_heap_t pa_empty_heap = {
    .direct = { [0 ... PA_DIRECT - 1] = &pa_empty_page },
    .curr = { [0 ... PA_NCLASSES - 1] = &pa_empty_page },
};

__thread pa_heap_t *pa_tls_heap __attribute__((tls_model("initial-exec"))) = &pa_empty_heap;

void pa_lock(void) {
    pthread_mutex_lock(&pa_g.lock);
    pa_g.lock_acquires++;
}
void pa_unlock(void) { pthread_mutex_unlock(&pa_g.lock); }

static void heap_thread_done(void *arg);

/* Set when this thread's heap went back at thread exit: a heap made after
** that (by another key's destructor) keys its pages by itself, not by the
** thread pointer, which outlives nothing that would release it. */
static __thread int pa_tls_exited __attribute__((tls_model("initial-exec")));

/* fork: hold the lock and every segment's across it so the child sees
** consistent segments.
** The child's own thread heap stays valid; heaps of threads that do not
** exist in the child keep their pages, but those pages lose their fast
** key: a thread the child makes may get the thread pointer of one of
** them, and must free into their pages as a remote thread does. */
static void atfork_prepare(void) {
    pa_lock();
    pa_segments_lock_all();
}
static void atfork_parent(void) {
    pa_segments_unlock_all(false);
    pa_unlock();
}
static void atfork_child(void) {
    pa_segments_unlock_all(true);
    pthread_mutex_init(&pa_g.lock, NULL);
    for (pa_heap_t *h = pa_g.heaps; h; h = h->next_heap) {
        if (h->kind != PA_HEAP_THREAD || h == pa_tls_heap) continue;
        h->fast_key = h;
        for (unsigned c = 0; c < PA_NCLASSES; c++)
            for (pa_page_t *pg = h->avail[c].first; pg; pg = pg->next)
                if (!pg->debug) atomic_store_explicit(&pg->fast, h, memory_order_relaxed);
    }
}

static void heap_init_fields(pa_heap_t *h);

/* Once per process: the secret, the segment map, settings, hooks. */
void pa_init_slow(void) {
    pa_lock();
    if (atomic_load_explicit(&pa_g.state, memory_order_relaxed) == 2) { pa_unlock(); return; }
    pa_os_init();
    const char *d = getenv("POOL_DEBUG");
    pa_g.debug = d && *d && *d != '0';
    const char *ms = getenv("POOL_DECAY_MS");
    pa_g.decay_ms = ms && *ms ? (unsigned)strtoul(ms, NULL, 10) : 100;
    pa_g.dirty_keep = (size_t)8 << 20;
    pthread_key_create(&pa_g.tkey, heap_thread_done);
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    atomic_store_explicit(&pa_g.state, 2, memory_order_release);
    pa_unlock();
}

static void heap_init_fields(pa_heap_t *h) {
    for (unsigned i = 0; i < PA_DIRECT; i++) h->direct[i] = &pa_empty_page;
    for (unsigned i = 0; i < PA_NCLASSES; i++) h->curr[i] = &pa_empty_page;
    h->limit = SIZE_MAX;
}

/* A zeroed heap struct, registered in the heap list.  Heap structs are
** never unmapped, only recycled: a racing pool_heap_of() or stats read of
** a dead heap still reads valid memory.  Lock held. */
static pa_heap_t *heap_struct_new(void) {
    pa_heap_t *h = pa_g.heap_free;
    if (h) {
        pa_g.heap_free = h->next_heap;
    } else {
        size_t sz = (sizeof(pa_heap_t) + 63) & ~(size_t)63, chunk = 64 * 1024;
        uint8_t *m = pa_os_map(chunk, PA_OS_PAGE);
        if (!m) return NULL;
        atomic_fetch_add_explicit(&pa_g.reserved, (int64_t)chunk, memory_order_relaxed);
        for (size_t off = sz; off + sz <= chunk; off += sz) {
            pa_heap_t *x = (pa_heap_t *)(m + off);
            x->next_heap = pa_g.heap_free;
            pa_g.heap_free = x;
        }
        h = (pa_heap_t *)m;
    }
    PA_ASSERT(atomic_load_explicit(&h->delayed, memory_order_relaxed) == NULL);
    memset(h, 0, sizeof *h);
    heap_init_fields(h);
    h->id = ++pa_g.next_heap_id;
    h->next_heap = pa_g.heaps;
    if (pa_g.heaps) pa_g.heaps->prev_heap = h;
    pa_g.heaps = h;
    return h;
}

/* Fold a dying heap's counters into the process totals and recycle it. */
static void heap_struct_free(pa_heap_t *h) {
    PA_ASSERT(h->segs == NULL);           /* abandoned first */
    for (unsigned c = 0; c < PA_NCLASSES; c++) {
        pa_g.dead_allocs[c] += PA_CNT_GET(h->count[c].allocs);
        pa_g.dead_frees[c] += PA_CNT_GET(h->count[c].frees);
    }
    pa_g.dead_reallocs += PA_CNT_GET(h->reallocs);
    pa_g.dead_large_allocs += PA_CNT_GET(h->large_allocs);
    pa_g.dead_large_alloc_bytes += PA_CNT_GET(h->large_alloc_bytes);
    pa_g.dead_large_frees += PA_CNT_GET(h->large_frees);
    for (unsigned t = 0; t < POOL_NTAGS; t++) pa_g.dead_tags[t] += PA_CNT_GET(h->tags[t]);
    pa_g.dead_large_blocks += PA_CNT_GET(h->large_blocks);
    pa_g.dead_large_bytes += PA_CNT_GET(h->large_bytes);
    if (h->sized) pa_g.dead_live += pa_heap_live(h);
    if (h->prev_heap) h->prev_heap->next_heap = h->next_heap; else pa_g.heaps = h->next_heap;
    if (h->next_heap) h->next_heap->prev_heap = h->prev_heap;
    h->dead = 1;
    h->next_heap = pa_g.heap_free;
    pa_g.heap_free = h;
}

/* The calling thread's heap, made on its first allocation. */
pa_heap_t *pa_heap_thread(void) {
    pa_heap_t *h = pa_tls_heap;
    if (h != &pa_empty_heap) return h;
    pa_init();
    pa_lock();
    h = heap_struct_new();
    if (h) {
        h->kind = PA_HEAP_THREAD;
        h->debug = (uint8_t)pa_g.debug;
        h->fast_key = pa_tls_exited ? (const void *)h : PA_THREAD_KEY();
    }
    pa_unlock();
    if (!h) return NULL;
    pa_tls_heap = h;
    pthread_setspecific(pa_g.tkey, h);
    return h;
}

/* The heap of a thread's first free before any malloc of its own (a
** consumer of blocks other threads make), made as a malloc would: with no
** heap a free counts in the process totals with an atomic add and takes
** pa_free_slow, 191 instructions a producer/consumer pair against 139 with
** one (callgrind; mimalloc 2: 124).  After the thread's exit (frees from
** its destructors), or without memory for a heap, the free goes on without
** one: &pa_empty_heap.  Free keeps errno. */
pa_heap_t *pa_heap_thread_for_free(void) {
    if (pa_tls_exited) return &pa_empty_heap;
    int saved = errno;
    pa_heap_t *h = pa_heap_thread();
    errno = saved;
    return h ? h : &pa_empty_heap;
}

/* Orphan one page: no heap owns it; threads needing its class adopt it.
** Lock held. */
static void page_orphan(pa_heap_t *h, pa_page_t *pg) {
    unsigned c = pg->cls;
    atomic_store_explicit(&pg->fast, NULL, memory_order_relaxed);
    atomic_store_explicit(&pg->owner, NULL, memory_order_release);
    PA_ASSERT(PA_TF_STATE(atomic_load_explicit(&pg->xthread_free, memory_order_relaxed)) == PA_TF_NORMAL);
    pg->in_full = 0;
    pa_list_push(&pa_g.orphans[c], pg);
    __atomic_store_n(&pa_g.orphan_pages[c], pa_g.orphan_pages[c] + 1, __ATOMIC_RELAXED);
    pa_g.orphan_blocks[c] += pg->reserved;
    PA_CNT_ADD(h->class_pages[c], -1);
    PA_CNT_ADD(h->class_blocks[c], -(int64_t)pg->reserved);
}

/* Take pg off its class's orphan list.  Lock held. */
static void orphan_remove(pa_page_t *pg) {
    unsigned c = pg->cls;
    pa_list_remove(&pa_g.orphans[c], pg);
    __atomic_store_n(&pa_g.orphan_pages[c], pa_g.orphan_pages[c] - 1, __ATOMIC_RELAXED);
    pa_g.orphan_blocks[c] -= pg->reserved;
}

/* Hand every page of h to the orphan list (pages with live blocks) or back
** to the segments (empty ones), then abandon its segments (the empty ones
** too, resident, for the next thread).  Lock held; h quiesced and drained. */
static void heap_abandon_pages(pa_heap_t *h) {
    PA_ASSERT(atomic_load_explicit(&h->delayed, memory_order_relaxed) == NULL);
    pa_heap_drop_empty(h);
    for (unsigned c = 0; c <= PA_NCLASSES; c++) {
        pa_page_list_t *l = c < PA_NCLASSES ? &h->avail[c] : &h->full;
        while (l->first) {
            pa_page_t *pg = l->first;
            pa_list_remove(l, pg);
            pa_page_collect(pg);
            if (PA_CNT_GET(pg->used) == 0) {
                PA_CNT_ADD(h->class_pages[pg->cls], -1);
                PA_CNT_ADD(h->class_blocks[pg->cls], -(int64_t)pg->reserved);
                pa_span_free(pg, false);
            } else {
                page_orphan(h, pg);
            }
        }
    }
    pa_segments_abandon(h);
}

/* Thread exit (pthread key destructor): the thread's caches go back. */
static void heap_thread_done(void *arg) {
    pa_heap_t *h = arg;
    if (!h || h == &pa_empty_heap) return;
    if (h->debug) pa_quarantine_flush(h);
    /* Settle every page first (no freer will hand h a block any more),
    ** then free what was handed: both without the lock, since a page may
    ** retire.  The thread still uses h for that. */
    pa_heap_quiesce(h);
    pa_heap_drain_delayed(h);
    pa_tls_heap = &pa_empty_heap;
    pa_tls_exited = 1;
    pa_lock();
    heap_abandon_pages(h);
    for (pa_large_t *lg = pa_g.large; lg; lg = lg->next)
        if (lg->heap == h) __atomic_store_n(&lg->heap, NULL, __ATOMIC_RELAXED);  /* read unlocked: pa_large_realloc */
    heap_struct_free(h);
    pa_unlock();
}

/* Take an orphan page of class cls for h, if there is one (the count is
** read without the lock: a thread exit makes them, rarely).  Its remote
** frees are collected by the caller. */
static pa_page_t *orphan_take(pa_heap_t *h, unsigned cls) {
    if (!__atomic_load_n(&pa_g.orphan_pages[cls], __ATOMIC_RELAXED)) return NULL;
    pa_page_t *pg = NULL;
    pa_lock();
    for (pa_page_t *o = pa_g.orphans[cls].first; o; o = o->next) {
        if (o->debug != h->debug) continue;
        pg = o;
        orphan_remove(pg);
        break;
    }
    pa_unlock();
    return pg;
}

/* A page for class cls: from h's empty cache, an orphan of that class (its
** frees are collected), or a fresh span of h's segments.  The global lock
** only for an orphan or a new segment.  NULL with ENOMEM. */
pa_page_t *pa_heap_acquire_page(pa_heap_t *h, unsigned cls) {
    pa_heap_sample_peak(h);
    /* Idle cached pages of the other span lengths go back; those of this
    ** one are about to be reused (after a pause, a program that allocates
    ** its batch again would otherwise fault it all back in). */
    uint64_t now = pa_clock_ms();
    if (h->nempty) pa_heap_trim_empty(h, now, pa_span_kind(pa_class_slices(cls)));
    pa_purge_tick(h, now);
    pa_page_t *pg = pa_heap_take_empty(h, cls, pa_class_slices(cls));
    if (pg) goto adopted;
    pa_heap_trim_miss(h, now, pa_span_kind(pa_class_slices(cls)));
    pa_heap_make_room(h, (size_t)pa_class_slices(cls) * PA_SLICE_SIZE);
    pg = orphan_take(h, cls);
    if (!pg) {
        pa_heap_purge_idle(h, now);
        pg = pa_span_alloc(h, pa_class_slices(cls));
        if (!pg) return NULL;
        pa_large_cache_on_growth();
        pa_page_init(pg, cls);
        pg->debug = h->debug;
    }
    atomic_store_explicit(&pg->owner, h, memory_order_release);
    pa_page_collect(pg);
    PA_CNT_ADD(h->committed, (int64_t)((size_t)pg->slices * PA_SLICE_SIZE));
adopted:
    PA_CNT_ADD(h->class_pages[cls], 1);
    PA_CNT_ADD(h->class_blocks[cls], pg->reserved);
    pa_list_push(&h->avail[cls], pg);
    pg->count = &h->count[cls];
    if (!pg->debug) atomic_store_explicit(&pg->fast, h->fast_key, memory_order_relaxed);
    pa_heap_set_curr(h, cls);
    PA_EXPENSIVE(h);
    return pg;
}

/* Live bytes of a heap: exact for first-class heaps, derived from the
** per-class counters for thread heaps. */
static int64_t heap_live(const pa_heap_t *h) {
    if (h->kind == PA_HEAP_USER) return pa_heap_live(h);
    int64_t live = PA_CNT_GET(h->large_bytes);
    for (unsigned c = 0; c < PA_NCLASSES; c++)
        live += (int64_t)(PA_CNT_GET(h->count[c].allocs) - PA_CNT_GET(h->count[c].frees)) * pa_class_size[c];
    return live;
}

/* Thread heaps count no bytes on the fast path; their peak is sampled each
** time they take a new page, so it is low by less than a page per class. */
void pa_heap_sample_peak(pa_heap_t *h) {
    if (h->kind != PA_HEAP_THREAD) return;
    int64_t live = heap_live(h);
    if (live > 0 && (uint64_t)live > PA_CNT_GET(h->peak)) PA_CNT_SET(h->peak, (uint64_t)live);
}

/* pa_heap_take took h past high = min(limit, peak): past the limit it
** gives the bytes back and refuses, else live is the new peak. */
bool pa_heap_take_slow(pa_heap_t *h, size_t add) {
    int64_t live = pa_heap_live(h);
    if ((uint64_t)live > h->limit) {
        pa_heap_give(h, (int64_t)add);
        return false;
    }
    PA_ASSERT((uint64_t)live > PA_CNT_GET(h->peak));
    PA_CNT_SET(h->peak, (uint64_t)live);
    pa_heap_rebound(h, live);
    return true;
}

/* After h's limit or peak changed: high and headroom again describe `live`,
** the live bytes from before the change. */
void pa_heap_rebound(pa_heap_t *h, int64_t live) {
    uint64_t peak = PA_CNT_GET(h->peak);
    uint64_t high = peak < h->limit ? peak : h->limit;
    PA_CNT_SET(h->high, high);
    PA_CNT_SET(h->headroom, (int64_t)high - live);
}

/* ---- public: first-class heaps ---- */

pool_heap_t *pool_heap_new(const pool_heap_options_t *opts) {
    pa_init();
    pa_lock();
    pa_heap_t *h = heap_struct_new();
    pa_unlock();
    if (!h) { errno = ENOMEM; return NULL; }
    h->kind = PA_HEAP_USER;
    h->fast_key = h;
    if (opts) {
        h->limit = opts->limit ? opts->limit : SIZE_MAX;
        h->debug = (uint8_t)(opts->debug != 0);
        h->sized = (uint8_t)(opts->sized != 0);
        if (opts->name) strncpy(h->name, opts->name, sizeof h->name - 1);
        pa_heap_rebound(h, 0);
    }
    if (pa_g.debug) h->debug = 1;
    return (pool_heap_t *)h;
}

void pool_heap_destroy(pool_heap_t *heap) {
    if (!heap) return;
    pa_heap_t *h = &heap->h;
    /* A second destroy would put the struct on the recycle list twice. */
    if (PA_UNLIKELY(h->dead || h->kind != PA_HEAP_USER)) pa_fault("pool_heap_destroy of a heap that is not live:", heap, 0);
    /* Blocks other threads handed to h die with it: their pages go too. */
    pa_heap_quiesce(h);
    atomic_store_explicit(&h->delayed, NULL, memory_order_relaxed);
    pa_lock();
    pa_heap_drop_empty(h);
    for (unsigned c = 0; c <= PA_NCLASSES; c++) {
        pa_page_list_t *l = c < PA_NCLASSES ? &h->avail[c] : &h->full;
        while (l->first) {
            pa_page_t *pg = l->first;
            pa_list_remove(l, pg);
            pa_span_free(pg, false);
        }
    }
    pa_segments_abandon(h);
    pa_large_t *lg = pa_g.large;
    while (lg) {
        pa_large_t *next = lg->next;
        if (lg->heap == h) pa_large_release_locked(lg);
        lg = next;
    }
    /* Its blocks are gone: count them freed so process totals stay whole. */
    pa_lua_drop(h);
    for (unsigned c = 0; c < PA_NCLASSES; c++) PA_CNT_SET(h->count[c].frees, PA_CNT_GET(h->count[c].allocs));
    pa_heap_rebound(h, 0);
    PA_CNT_SET(h->large_blocks, 0);
    PA_CNT_SET(h->large_bytes, 0);
    PA_CNT_SET(h->large_frees, PA_CNT_GET(h->large_allocs));
    heap_struct_free(h);
    pa_unlock();
}

size_t pool_heap_set_limit(pool_heap_t *heap, size_t bytes) {
    if (!heap) { errno = EINVAL; return 0; }
    pa_heap_t *h = &heap->h;
    size_t old = h->limit == SIZE_MAX ? 0 : h->limit;
    int64_t live = pa_heap_live(h);
    h->limit = bytes ? bytes : SIZE_MAX;
    pa_heap_rebound(h, live);
    return old;
}

size_t pool_heap_get_limit(const pool_heap_t *heap) {
    if (!heap) { errno = EINVAL; return 0; }
    return heap->h.limit == SIZE_MAX ? 0 : heap->h.limit;
}

size_t pool_set_limit(size_t bytes) {
    size_t old = atomic_exchange(&pa_g.limit, bytes ? bytes : SIZE_MAX);
    return old == SIZE_MAX ? 0 : old;
}

size_t pool_get_limit(void) {
    size_t l = atomic_load(&pa_g.limit);
    return l == SIZE_MAX ? 0 : l;
}

pool_heap_t *pool_heap_of(const void *p) {
    if (!pool_owns(p)) return NULL;
    unsigned e = pa_map_get((uintptr_t)p);
    pa_heap_t *h;
    if (e == PA_MAP_SEGMENT) {
        h = atomic_load_explicit(&pa_page_of(p)->owner, memory_order_acquire);
    } else {
        pa_lock();
        h = pa_large_header(p, e)->heap;
        pa_unlock();
    }
    return h && h->kind == PA_HEAP_USER ? (pool_heap_t *)h : NULL;
}

/* Release everything free now: the caller's empty cached pages, every
** dirty free slice, spare segments. */
size_t pool_trim(void) {
    pa_init();
    pa_heap_t *h = pa_tls_heap;
    if (h != &pa_empty_heap) {
        pa_heap_drain_delayed(h);
        for (unsigned c = 0; c < PA_NCLASSES; c++) {
            pa_page_t *pg = h->avail[c].first;
            while (pg) {
                pa_page_t *next = pg->next;
                pa_page_collect(pg);
                if (PA_CNT_GET(pg->used) == 0) pa_page_release(h, pg);
                pg = next;
            }
        }
    }
    pa_lock();
    if (h != &pa_empty_heap) pa_heap_drop_empty(h);
    /* Orphans whose blocks all came back. */
    for (unsigned c = 0; c < PA_NCLASSES; c++) {
        pa_page_t *pg = pa_g.orphans[c].first;
        while (pg) {
            pa_page_t *next = pg->next;
            pa_page_collect(pg);
            if (PA_CNT_GET(pg->used) == 0) {
                orphan_remove(pg);
                pa_span_free(pg, false);
            }
            pg = next;
        }
    }
    size_t released = pa_purge(h, true);
    pa_unlock();
    return released;
}
