/*
** page.c -- libpool's pages: carving blocks, collecting frees from other
** threads, and moving pages between a heap's lists (available, full) and
** back to the segments when they empty.  Everything here runs on the
** thread that owns the page's heap, except where it says otherwise.
*/
#include <sched.h>

#include "internal.h"

void pa_list_push(pa_page_list_t *l, pa_page_t *pg) {
    pg->prev = NULL;
    pg->next = l->first;
    if (l->first) l->first->prev = pg; else l->last = pg;
    l->first = pg;
}

void pa_list_append(pa_page_list_t *l, pa_page_t *pg) {
    pg->next = NULL;
    pg->prev = l->last;
    if (l->last) l->last->next = pg; else l->first = pg;
    l->last = pg;
}

void pa_list_remove(pa_page_list_t *l, pa_page_t *pg) {
    if (pg->prev) pg->prev->next = pg->next; else l->first = pg->next;
    if (pg->next) pg->next->prev = pg->prev; else l->last = pg->prev;
    pg->next = pg->prev = NULL;
}

/* Point the allocation fast paths of class cls at the head of its list. */
void pa_heap_set_curr(pa_heap_t *h, unsigned cls) {
    pa_heap_point(h, cls, h->avail[cls].first);
}

/* Point the allocation fast paths of class cls at page pg (NULL: none; a
** debug heap always takes the slow path). */
void pa_heap_point(pa_heap_t *h, unsigned cls, pa_page_t *pg) {
    if (!pg || h->debug) pg = &pa_empty_page;
    h->curr[cls] = pg;
    if (pa_class_size[cls] > PA_SMALL_MAX) return;
    /* The direct entries of a class are the w with class_of(16w) == cls. */
    unsigned lo = cls == 0 ? 0 : (pa_class_size[cls - 1] + 16) >> 4, hi = pa_class_size[cls] >> 4;
    for (unsigned w = lo; w <= hi; w++) h->direct[w] = pg;
}

/* The inverse of odd d modulo 2^64: d is its own inverse modulo 2^3, and
** each Newton step x(2 - dx) doubles the bits that are right. */
static uint64_t pa_inverse(uint64_t d) {
    PA_ASSERT(d & 1);
    uint64_t x = d;
    for (int i = 0; i < 5; i++) x *= 2 - d * x;     /* 3, 6, 12, 24, 48, 96 bits */
    PA_ASSERT(x * d == 1);
    return x;
}

/* Fresh span: no blocks carved yet; carving is lazy so that a page that
** only ever holds a few blocks touches only a few OS pages. */
void pa_page_init(pa_page_t *pg, unsigned cls) {
    uint32_t bs = pa_class_size[cls];
    pg->cls = (uint8_t)cls;
    pg->block_size = bs;
    pg->shift = (uint8_t)__builtin_ctz(bs);
    pg->inv = pa_inverse(bs >> pg->shift);
    pg->start = (uint8_t *)pa_segment_of(pg) + (size_t)pg->index * PA_SLICE_SIZE;
    pg->reserved = (uint32_t)(((size_t)pg->slices * PA_SLICE_SIZE - PA_GUARD) / bs);
    PA_CNT_SET(pg->capacity, 0);
    PA_CNT_SET(pg->used, 0);
    pg->free = PA_END(pg);
    pg->in_full = 0;
    pg->debug = 0;
    atomic_store_explicit(&pg->xthread_free, PA_TF_NORMAL, memory_order_relaxed);
    assert(pg->reserved >= 7);              /* 8 but for the guard page of the largest classes */
}

/* Carve up to an OS page's worth (at least two blocks) of fresh blocks onto
** the free list: the block after one handed out is then a free block whose
** encoded link an overflow corrupts, which the next pops find.  False when
** the span is fully carved. */
bool pa_page_extend(pa_page_t *pg) {
    uint32_t cap = (uint32_t)PA_CNT_GET(pg->capacity);
    if (cap >= pg->reserved) return false;
    uint32_t bs = pg->block_size;
    uint32_t n = bs >= PA_OS_PAGE / 2 ? 2 : PA_OS_PAGE / bs;
    if (n > pg->reserved - cap) n = pg->reserved - cap;
    uint8_t *first = pg->start + (size_t)cap * bs;
    pa_block_t *end = pg->free;
    for (uint32_t i = 0; i < n; i++) {
        pa_block_t *b = (pa_block_t *)(first + (size_t)i * bs);
        PA_TOOL_INTERNAL(b, bs);
        b->next = pa_encode(i + 1 < n ? (void *)(first + (size_t)(i + 1) * bs) : (void *)end);
        b->freed = pa_g.key;
        if (pg->debug) memset(b + 1, PA_POISON, bs - sizeof *b);
        PA_TOOL_NOACCESS(b, bs);
    }
    pg->free = (pa_block_t *)first;
    PA_CNT_SET(pg->capacity, cap + n);
    return true;
}

/* Bring pg's state to NORMAL: a parked page's NOTIFY is dropped, and a
** remote freer that is handing one of its blocks to the owner heap (BUSY;
** it holds that state for two short CAS loops of its own) is waited out.
** The owner calls it before it parks, unparks or lets go of a page, so a
** freer never finds a page in a state its owner has left.  Owner only. */
void pa_page_settle(pa_page_t *pg) {
    uintptr_t tf = atomic_load_explicit(&pg->xthread_free, memory_order_acquire);
    for (;;) {
        unsigned st = PA_TF_STATE(tf);
        if (st == PA_TF_NORMAL) return;
        if (st == PA_TF_BUSY) {
            sched_yield();
            tf = atomic_load_explicit(&pg->xthread_free, memory_order_acquire);
        } else if (atomic_compare_exchange_weak_explicit(&pg->xthread_free, &tf, tf & ~(uintptr_t)PA_TF_MASK,
                                                         memory_order_acq_rel, memory_order_acquire)) {
            return;
        }
    }
}

/* Move the blocks other threads freed into the local free list, leaving
** the page's state bits as they are.  Returns how many; the page's used
** count drops by as many. */
uint32_t pa_page_collect(pa_page_t *pg) {
    uintptr_t tf = atomic_load_explicit(&pg->xthread_free, memory_order_relaxed);
    do {
        if (!PA_TF_BLOCK(tf)) return 0;
    } while (!atomic_compare_exchange_weak_explicit(&pg->xthread_free, &tf, tf & PA_TF_MASK,
                                                    memory_order_acquire, memory_order_relaxed));
    pa_block_t *head = PA_TF_BLOCK(tf), *last = head;
    uint32_t n = 0;
    for (;;) {
        PA_TOOL_INTERNAL(last, sizeof *last);
        if (PA_UNLIKELY(++n > PA_CNT_GET(pg->capacity))) pa_fault("corrupted (cyclic) remote free list at", last, pg->block_size);
        pa_block_t *next = pa_decode(last->next);
        if (!next) break;
        if (PA_UNLIKELY(!pa_block_ok(next, pg))) pa_fault("corrupted free list at", last, pg->block_size);
        PA_TOOL_NOACCESS(last, pg->block_size);
        last = next;
    }
    last->next = pa_encode(pg->free);
    PA_TOOL_NOACCESS(last, pg->block_size);
    pg->free = head;
    if (PA_UNLIKELY(n > PA_CNT_GET(pg->used))) pa_fault("double free (remote) in page", pg->start, pg->block_size);
    PA_CNT_ADD(pg->used, -n);
    return n;
}

/* The page has no free block, carved or collected: park it on the full
** list, where the fast free path does not touch it, in state NOTIFY, so
** the next remote free hands its block to this heap instead of the page.
** One CAS from (no remote frees, NORMAL) decides it: if a remote free got
** in first, the page is not parked (false) and the caller collects it. */
bool pa_page_to_full(pa_heap_t *h, pa_page_t *pg) {
    PA_ASSERT(!pg->in_full && pg->free == PA_END(pg) && PA_CNT_GET(pg->capacity) == pg->reserved);
    pa_page_settle(pg);
    uintptr_t expect = PA_TF_NORMAL;
    if (!atomic_compare_exchange_strong_explicit(&pg->xthread_free, &expect, PA_TF_NOTIFY, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return false;
    pa_list_remove(&h->avail[pg->cls], pg);
    pa_list_push(&h->full, pg);
    pg->in_full = 1;
    atomic_store_explicit(&pg->fast, NULL, memory_order_relaxed);
    return true;
}

/* Back from the full list to the end of its class list: the page the fast
** path allocates from stays current, and this one, which has only the
** block just freed, collects more frees before its turn comes.  (At the
** front, a free into a full page cost a slow free, a slow malloc and two
** list moves whenever a live set churns.) */
void pa_page_unfull(pa_heap_t *h, pa_page_t *pg) {
    if (!pg->in_full) return;
    pa_page_settle(pg);
    pg->in_full = 0;
    pa_list_remove(&h->full, pg);
    pa_list_append(&h->avail[pg->cls], pg);
    if (!pg->debug) atomic_store_explicit(&pg->fast, h->fast_key, memory_order_relaxed);
    if (h->avail[pg->cls].first == pg) pa_heap_set_curr(h, pg->cls);
}

/* Free the blocks other threads handed to this heap (they freed into its
** parked pages).  Each is a local free now: its page leaves the full list.
** Owner only, without the lock (a page may retire). */
void pa_heap_drain_delayed(pa_heap_t *h) {
    if (!atomic_load_explicit(&h->delayed, memory_order_relaxed)) return;
    pa_block_t *b = atomic_exchange_explicit(&h->delayed, NULL, memory_order_acquire);
    while (b) {
        PA_TOOL_INTERNAL(b, sizeof *b);
        pa_block_t *next = pa_decode(b->next);
        pa_page_t *pg = pa_page_of(b);
        PA_ASSERT(pa_map_get((uintptr_t)b) == PA_MAP_SEGMENT && pg != &pa_empty_page);
        /* Its page cannot have left this heap: the block pins it (used). */
        if (PA_UNLIKELY(atomic_load_explicit(&pg->owner, memory_order_relaxed) != h))
            pa_fault("corrupted delayed-free list at", b, pg->block_size);
        pa_free_local(h, pg, b);
        b = next;
    }
}

/* No page of h is parked or being handed a block any more: every page is
** NORMAL, so no remote freer will touch h's delayed list again, and the
** list is final.  Before a heap lets all its pages go (thread exit,
** destroy).  Owner only. */
void pa_heap_quiesce(pa_heap_t *h) {
    for (unsigned c = 0; c <= PA_NCLASSES; c++)
        for (pa_page_t *pg = (c < PA_NCLASSES ? h->avail[c] : h->full).first; pg; pg = pg->next) pa_page_settle(pg);
}

/* Give a page's span back to its segment. */
void pa_page_release(pa_heap_t *h, pa_page_t *pg) {
    pa_page_settle(pg);
    if (pg->in_full) pa_list_remove(&h->full, pg); else pa_list_remove(&h->avail[pg->cls], pg);
    pg->in_full = 0;
    PA_CNT_ADD(h->class_pages[pg->cls], -1);
    PA_CNT_ADD(h->class_blocks[pg->cls], -(int64_t)pg->reserved);
    PA_CNT_ADD(h->committed, -(int64_t)((size_t)pg->slices * PA_SLICE_SIZE));
    unsigned cls = pg->cls;
    pa_span_free(pg, false);
    pa_heap_set_curr(h, cls);
}

/* Put h's empty page pg in its cache of empty pages, stamped `now`. */
static void page_cache(pa_heap_t *h, pa_page_t *pg, uint64_t now) {
    pa_page_settle(pg);
    if (pg->in_full) pa_list_remove(&h->full, pg); else pa_list_remove(&h->avail[pg->cls], pg);
    pg->in_full = 0;
    atomic_store_explicit(&pg->fast, NULL, memory_order_relaxed);
    PA_CNT_ADD(h->class_pages[pg->cls], -1);
    PA_CNT_ADD(h->class_blocks[pg->cls], -(int64_t)pg->reserved);
    pg->retired_ms = now;
    if (pa_page_carved_medium(pg)) h->cache_carved++;
    __atomic_store_n(&pg->cached, 1, __ATOMIC_RELAXED);
    pa_list_push(&h->empty[pa_span_kind(pg->slices)], pg);
    h->nempty++;
    h->empty_bytes += (size_t)pg->slices * PA_SLICE_SIZE;
    pa_heap_set_curr(h, pg->cls);
}

/* The page's last block came back, and it is not the only page of its
** class: the caller tested pa_page_sole, and stamped a medium class's
** only page, which stays in place (so a malloc/free cycle does not thrash)
** until cache_medium takes it.  Keep pg in the heap's cache of empty
** pages, which the next page request of any class with the same span takes
** without the lock.  The cache gives back what stays idle for the decay,
** and its oldest pages past PA_EMPTY_MAX. */
void pa_page_retire(pa_heap_t *h, pa_page_t *pg) {
    PA_ASSERT(!pa_page_sole(h, pg));
    if (pg->debug) { pa_page_release(h, pg); return; }
    uint64_t now = pa_clock_ms();
    page_cache(h, pg, now);
    pa_heap_trim_empty(h, now, PA_SPAN_KINDS);
}

/* pg, h's empty only page of a medium class, left by a realloc that moved
** its block to another class: into the cache now, not kept in place for
** its class, so that the next class of a growing buffer takes it.  The
** free that emptied it stamped retired_ms (free.c, page_emptied).  No
** system call (the cache is trimmed at the next retire or beat). */
void pa_page_shed(pa_heap_t *h, pa_page_t *pg) {
    PA_ASSERT(pa_page_sole(h, pg) && PA_CNT_GET(pg->used) == 0 && pg->slices > 1);
    page_cache(h, pg, pg->retired_ms);
}

/* Whether pg, the first page of its class, is a medium class's only page,
** kept in place empty (stamped retired_ms when it emptied). */
static bool medium_kept_empty(const pa_page_t *pg) {
    return pg && pg->slices > 1 && !pg->next && PA_CNT_GET(pg->used) == 0 && !pg->debug;
}

/* A page request found the cache empty: the empty pages that medium
** classes (4- and 16-slice spans, blocks over 7 KiB) keep in place as
** their only page join the cache, but cls's own, once they have been empty
** for a 32nd of the decay (3 ms by default).  A few blocks of such a class made its span
** resident, and it stayed so for that class alone (a Python interpreter
** kept some 0.5 MiB so, one span per medium class it had used once); in
** the cache any class of its span length reuses it, and the decay gives
** back the rest.  Only on a cache miss, which goes on to the lock
** otherwise, and only pages idle for a while: a malloc/free cycle of one
** medium class keeps its page on the fast path, and a buffer that grows
** through the medium classes again and again keeps a page in each (taking
** them at once cost 3% more instructions in such a realloc loop).  Waiting
** an eighth of the decay lost half the gain: an interpreter starts in
** some 20 ms. */
static void cache_medium(pa_heap_t *h, unsigned cls) {
    if (h->debug) return;
    uint64_t now = 0;
    for (unsigned c = 0; c < PA_NCLASSES; c++) {
        pa_page_t *pg = h->avail[c].first;
        if (c == cls || !medium_kept_empty(pg)) continue;
        if (!now) now = pa_clock_ms();
        if (now - pg->retired_ms >= pa_idle_wait_ms()) page_cache(h, pg, now);
    }
}

/* Take pg off h's empty cache. */
static void empty_remove(pa_heap_t *h, pa_page_t *pg) {
    PA_ASSERT(PA_CNT_GET(pg->used) == 0 && !pg->in_full);
    pa_list_remove(&h->empty[pa_span_kind(pg->slices)], pg);
    __atomic_store_n(&pg->cached, 0, __ATOMIC_RELAXED);
    if (pa_page_carved_medium(pg)) h->cache_carved--;
    h->nempty--;
    h->empty_bytes -= (size_t)pg->slices * PA_SLICE_SIZE;
}

/* The page of h's empty cache that has waited longest, or NULL; pages of
** span kind `keep_kind` are not looked at (PA_SPAN_KINDS: none kept). */
static pa_page_t *empty_oldest(const pa_heap_t *h, unsigned keep_kind) {
    pa_page_t *old = NULL;
    for (unsigned k = 0; k < PA_SPAN_KINDS; k++) {
        pa_page_t *pg = k == keep_kind ? NULL : h->empty[k].last;
        if (pg && (!old || pg->retired_ms < old->retired_ms)) old = pg;
    }
    return old;
}

/* A page from the heap's empty cache with a span of `slices` (the newest:
** its memory is the likeliest to be in cache), or NULL.  A page of the
** same class keeps its free list as it is. */
pa_page_t *pa_heap_take_empty(pa_heap_t *h, unsigned cls, unsigned slices) {
    pa_page_t *pg = h->empty[pa_span_kind(slices)].first;
    if (!pg && slices > 1) {
        cache_medium(h, cls);
        pg = h->empty[pa_span_kind(slices)].first;
    }
    if (!pg) return NULL;
    empty_remove(h, pg);
    if (pg->cls != cls) pa_page_init(pg, cls);
    return pg;
}

/* Give back the cached empty pages idle for `idle` ms and, past
** PA_EMPTY_MAX, the oldest others, except those of span kind keep_kind.
** Those idle for the decay are old at once (their slices can be purged:
** a pass runs if one is due).  Owner only; no global lock but the pass's. */
static void trim_empty(pa_heap_t *h, uint64_t now, unsigned keep_kind, uint64_t idle) {
    pa_page_t *give = NULL, *pg;
    while ((pg = empty_oldest(h, keep_kind)) && (now - pg->retired_ms >= idle || h->empty_bytes > PA_EMPTY_MAX)) {
        empty_remove(h, pg);
        PA_CNT_ADD(h->committed, -(int64_t)((size_t)pg->slices * PA_SLICE_SIZE));
        pg->next = give;
        give = pg;
    }
    if (!give) return;
    int saved = errno;
    while ((pg = give)) {
        give = pg->next;
        pa_span_free(pg, now - pg->retired_ms >= pa_g.decay_ms);
    }
    errno = saved;
    pa_purge_tick(h, now);
}

/* Give back the cached empty pages idle for the decay and, past
** PA_EMPTY_MAX, the oldest others, except those of span kind keep_kind. */
void pa_heap_trim_empty(pa_heap_t *h, uint64_t now, unsigned keep_kind) {
    trim_empty(h, now, keep_kind, pa_g.decay_ms);
}

/* A page request of span kind `kind` found no cached page and goes to the
** segments: the cached pages of the other span kinds idle
** for an eighth of the decay go back first, so the request (and the next
** ones) take their resident slices rather than fresh ones.  Pages freed
** while a program starts (imports, compiling) otherwise waited out the
** whole decay in the cache while the program took new spans of the other
** lengths beside them: 1.3 MiB of a Python benchmark's peak RSS of 22
** (unpack_sequence, 2026-12-05; 1.8 with no wait, 0.7 with a quarter of
** the decay).  Some wait, not none: a loop whose rounds alternate span
** lengths gives its pages back at most once per that time, not each round. */
void pa_heap_trim_miss(pa_heap_t *h, uint64_t now, unsigned kind) {
    if (h->nempty) trim_empty(h, now, kind, pa_g.decay_ms / 8);
}

/* A medium class's only page, empty since `retired_ms`, keeps its span
** but gives its memory back: the blocks it carved are purged (they read as
** zero again) and it carves afresh.  Its class was used and has stayed
** idle (richards under POOLALLOC=1 ended with 276 KiB so, in three pages of
** 40-64 KiB blocks, 2026-12-06).  Only the carve is reset: the fields
** pool_page_map reads stay as they are. */
static void page_purge_in_place(pa_page_t *pg) {
    PA_ASSERT(PA_CNT_GET(pg->used) == 0 && !pg->debug && pg->slices > 1);
    size_t carved = (size_t)PA_CNT_GET(pg->capacity) * pg->block_size;
    pa_os_purge(pg->start, (carved + PA_OS_PAGE - 1) & ~(size_t)(PA_OS_PAGE - 1));
    PA_CNT_SET(pg->capacity, 0);
    pg->free = PA_END(pg);
}

/* The medium classes' only pages kept in place empty, still carved, for
** `wait` ms or more: purged in place. */
static void purge_kept_medium(pa_heap_t *h, uint64_t now, uint64_t wait) {
    for (unsigned c = 0; c < PA_NCLASSES; c++) {
        pa_page_t *pg = h->avail[c].first;
        if (medium_kept_empty(pg) && PA_CNT_GET(pg->capacity) != 0 && now - pg->retired_ms >= wait)
            page_purge_in_place(pg);
    }
}

/* The heap is about to grow (a span of its segments, a fresh large
** mapping): first the cached pages of the medium span lengths that have
** waited pa_idle_wait_ms keep their spans but give their memory back
** (purged in place), oldest first, and so do the medium classes' only
** pages kept in place empty as long.  The cache keeps pages resident for
** the decay so that a batch freed and taken again does not fault its
** memory back; but the medium pages a program frees are mostly buffers
** used once or once a round (a Python interpreter's compile and I/O
** buffers, a regex's state), which no span of another length can reuse,
** and a program's peak comes while it grows: regex_v8 under POOLALLOC=1
** held 1 MiB in three cached pages at its peak, and a Python start-up
** uses a dozen medium classes once (the only pages: 0.1-0.3 MiB of the
** peak RSS of 8 pyperformance scripts of 10; 2026-12-06).  Only on
** growth, not on a timer: a loop in a steady state keeps its pages
** resident (xml_etree: 9% more page faults this way, 2.4 times as many
** with a purge 3 ms after every free).  Cost: a look at each class's first
** page, and a walk of the cache only if a carved medium page is in it
** (cache_carved). */
void pa_heap_purge_idle(pa_heap_t *h, uint64_t now) {
    int saved = errno;
    purge_kept_medium(h, now, pa_idle_wait_ms());
    for (unsigned k = 1; k < PA_SPAN_KINDS && h->cache_carved; k++) {
        for (pa_page_t *pg = h->empty[k].last; pg && h->cache_carved; pg = pg->prev) {
            if (now - pg->retired_ms < pa_idle_wait_ms()) break;
            if (!pa_page_carved_medium(pg)) continue;
            page_purge_in_place(pg);
            h->cache_carved--;
        }
    }
    errno = saved;
}

/* Every PA_BEAT_CALLS slow allocations, at most once per half decay: a
** heap in a steady state takes no new page, so nothing else gives back what
** went idle in it.  The medium classes' only pages empty for the decay are
** purged in place, the cache gives back its pages idle for the decay, and a
** purge pass runs if one is due.  Cost: an increment and a compare per slow
** allocation; a clock read every 64th. */
void pa_heap_beat(pa_heap_t *h) {
    h->beat = 0;
    uint64_t now = pa_clock_ms();
    if (now - h->beat_ms < pa_g.decay_ms / 2) return;
    h->beat_ms = now;
    int saved = errno;
    purge_kept_medium(h, now, pa_g.decay_ms);
    errno = saved;
    if (h->nempty) pa_heap_trim_empty(h, now, PA_SPAN_KINDS);
    pa_purge_tick(h, now);
}

/* Committing `bytes` more would pass the memory limit: give back the
** heap's cached empty pages first (they count as committed), so a limit
** fails only an allocation that live memory leaves no room for. */
void pa_heap_make_room(pa_heap_t *h, size_t bytes) {
    if (!h->nempty || pa_commit_ok(bytes)) return;
    int saved = errno;
    pa_heap_drop_empty(h);
    errno = saved;
}

/* Release every page of the empty cache to the segments. */
void pa_heap_drop_empty(pa_heap_t *h) {
    pa_page_t *pg;
    while ((pg = empty_oldest(h, PA_SPAN_KINDS))) {
        empty_remove(h, pg);
        PA_CNT_ADD(h->committed, -(int64_t)((size_t)pg->slices * PA_SLICE_SIZE));
        pa_span_free(pg, false);
    }
}
