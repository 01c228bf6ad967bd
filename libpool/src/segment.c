/*
** segment.c -- libpool's segments: 4 MiB aligned regions cut into 64 KiB
** slices, handed out as spans (pages) and taken back, with decayed
** purging of free slices.  Every function here runs under the global lock.
*/
#include "internal.h"

/* Bit mask of `n` slices starting at `i`. */
static uint64_t slice_bits(unsigned i, unsigned n) {
    return (n == 64 ? ~0ull : ((1ull << n) - 1)) << i;
}

/* Starts of runs of n set bits in m. */
static uint64_t runs_of(uint64_t m, unsigned n) {
    uint64_t r = m;
    for (unsigned k = 1; k < n && r; k++) r &= m >> k;
    return r;
}

/* Bytes of slice 0 the header needs; the rest of slice 0 is a guard. */
#define SEG_HDR (((sizeof(pa_segment_t) + PA_OS_PAGE - 1) / PA_OS_PAGE) * PA_OS_PAGE)

/* Protection of slices (README "Hardening"): a free slice that is not
** resident (clean) is PROT_NONE; a dirty free slice is read-write; a span
** in use is read-write but for its last OS page, its guard.  Changed only
** when spans are taken and given back and when slices are purged, never on
** a malloc or free fast path. */
static void *slice_addr(pa_segment_t *s, unsigned i) { return (uint8_t *)s + (size_t)i * PA_SLICE_SIZE; }

/* Every guard splits a mapping, and the kernel allows vm.max_map_count
** (65530) per process: about 38,000 per GiB of 1-slice pages.  Spans get
** their guard page while the process holds less than this much; past it
** the page is left read-write (the layout is the same). */
#define GUARD_MAX ((int64_t)512 << 20)

/* A new segment: mapped, registered, every slice but the header free. */
static pa_segment_t *segment_new(void) {
    pa_segment_t *s = pa_g.spare;
    if (s) {
        pa_g.spare = s->next;
        pa_g.nspare--;
    } else {
        s = pa_os_map(PA_SEG_SIZE, PA_SEG_SIZE);
        if (!s) return NULL;
        atomic_fetch_add_explicit(&pa_g.reserved, (int64_t)PA_SEG_SIZE, memory_order_relaxed);
        pa_os_protect((uint8_t *)s + SEG_HDR, PA_SEG_SIZE - SEG_HDR, false);
        s->id = pa_g.next_seg_id++;
        for (unsigned i = 0; i < PA_SLICES; i++) {
            s->slice_page[i] = &pa_empty_page;
            s->pages[i].index = (uint16_t)i;
        }
        s->free_mask = ~1ull;
        s->dirty_mask = s->young_mask = 0;
        pa_map_set((uintptr_t)s, PA_SEG_SIZE, PA_MAP_SEGMENT);
    }
    s->prev = NULL;
    s->next = pa_g.segments;
    if (s->next) s->next->prev = s;
    pa_g.segments = s;
    return s;
}

/* An empty segment: kept as a spare (purged), or unmapped. */
static void segment_drop(pa_segment_t *s) {
    if (s->prev) s->prev->next = s->next; else pa_g.segments = s->next;
    if (s->next) s->next->prev = s->prev;
    if (s->dirty_mask) {
        pa_os_decommit(slice_addr(s, 1), PA_SEG_SIZE - PA_SLICE_SIZE);
        atomic_fetch_sub_explicit(&pa_g.dirty, (int64_t)(__builtin_popcountll(s->dirty_mask) * PA_SLICE_SIZE),
                                  memory_order_relaxed);
        s->dirty_mask = s->young_mask = 0;
    }
    if (pa_g.nspare < 1) {
        s->next = pa_g.spare;
        pa_g.spare = s;
        pa_g.nspare++;
        return;
    }
    pa_map_set((uintptr_t)s, PA_SEG_SIZE, PA_MAP_NONE);
    pa_os_unmap(s, PA_SEG_SIZE);
    atomic_fetch_sub_explicit(&pa_g.reserved, (int64_t)PA_SEG_SIZE, memory_order_relaxed);
}

/* Whether `bytes` more may be put in use under the process limit. */
bool pa_commit_ok(size_t bytes) {
    size_t lim = atomic_load_explicit(&pa_g.limit, memory_order_relaxed);
    int64_t c = atomic_load_explicit(&pa_g.committed, memory_order_relaxed);
    return lim == SIZE_MAX || (c >= 0 && (size_t)c + bytes <= lim);
}

/* Where in a run mask r a span of n slices goes: the longest spans from
** the top of a segment, the others from the bottom, so the two kinds do
** not interleave, and a small block's 1 MiB neighbours (16 slices away)
** are more often free slices (PROT_NONE) than another page. */
static unsigned span_at(uint64_t r, unsigned n) {
    return n == 16 ? 63u - (unsigned)__builtin_clzll(r) : (unsigned)__builtin_ctzll(r);
}

/* A span of `slices` slices.  Resident (dirty) free slices are preferred:
** they cost no page faults and no new memory. */
pa_page_t *pa_span_alloc(unsigned slices) {
    size_t bytes = (size_t)slices * PA_SLICE_SIZE;
    if (!pa_commit_ok(bytes)) { errno = ENOMEM; return NULL; }
    pa_segment_t *best = NULL;
    unsigned at = 0;
    for (pa_segment_t *s = pa_g.segments; s; s = s->next) {
        uint64_t r = runs_of(s->free_mask, slices);
        if (!r) continue;
        uint64_t rd = runs_of(s->dirty_mask, slices);
        if (rd) { best = s; at = span_at(rd, slices); break; }
        if (!best) { best = s; at = span_at(r, slices); }
    }
    if (!best) {
        best = segment_new();
        if (!best) return NULL;
        at = span_at(runs_of(best->free_mask, slices), slices);
    }
    uint64_t bits = slice_bits(at, slices);
    int64_t was_dirty = __builtin_popcountll(best->dirty_mask & bits);
    uint8_t *base = slice_addr(best, at);
    bool guard = atomic_load_explicit(&pa_g.reserved, memory_order_relaxed) < GUARD_MAX;
    if (was_dirty < (int64_t)slices && !pa_os_protect(base, bytes - (guard ? PA_GUARD : 0), true)) {
        errno = ENOMEM;
        return NULL;
    }
    if (guard && (best->dirty_mask & (1ull << (at + slices - 1)))) pa_os_protect(base + bytes - PA_GUARD, PA_GUARD, false);
    best->free_mask &= ~bits;
    best->dirty_mask &= ~bits;
    best->young_mask &= ~bits;
    if (was_dirty) atomic_fetch_sub_explicit(&pa_g.dirty, was_dirty * (int64_t)PA_SLICE_SIZE, memory_order_relaxed);
    pa_page_t *pg = &best->pages[at];
    pg->slices = (uint16_t)slices;
    for (unsigned i = 0; i < slices; i++) best->slice_page[at + i] = pg;
    atomic_fetch_add_explicit(&pa_g.committed, (int64_t)bytes, memory_order_relaxed);
    return pg;
}

/* Take a span back.  Its slices stay resident (dirty) until the decay
** purges them; `idle`: the span has already waited out the decay in its
** heap's empty cache, so its slices are old at once (the next purge pass
** takes them) and do not make the segment look busy. */
void pa_span_free(pa_page_t *pg, bool idle) {
    pa_segment_t *s = pa_segment_of(pg);
    unsigned at = pg->index, n = pg->slices;
    uint64_t bits = slice_bits(at, n);
    PA_ASSERT((s->free_mask & bits) == 0);
    for (unsigned i = 0; i < n; i++) s->slice_page[at + i] = &pa_empty_page;
    /* Dirty slices are read-write: the guard opens.  If it cannot, the
    ** slices count as clean, so the next span over them opens them all
    ** (they stay resident, unseen by the purge, until then). */
    bool open = pa_os_protect((uint8_t *)slice_addr(s, at + n) - PA_GUARD, PA_GUARD, true);
    atomic_store_explicit(&pg->owner, NULL, memory_order_relaxed);
    atomic_store_explicit(&pg->fast, NULL, memory_order_relaxed);
    if (!idle) {
        uint64_t now = pa_clock_ms();
        if (!s->young_mask) s->young_since = now;
        s->young_mask |= bits;
        s->last_dirty = now;
        if (open) pa_purge_later(now);
    }
    s->free_mask |= bits;
    if (open) {
        s->dirty_mask |= bits;
        atomic_fetch_add_explicit(&pa_g.dirty, (int64_t)n * (int64_t)PA_SLICE_SIZE, memory_order_relaxed);
    } else {
        s->young_mask &= ~bits;
    }
    atomic_fetch_sub_explicit(&pa_g.committed, (int64_t)n * (int64_t)PA_SLICE_SIZE, memory_order_relaxed);
    if (s->free_mask == ~1ull) segment_drop(s);
    else pa_purge(false);
}

/* Something was freed at `now` that a purge pass may take once it is
** older than the decay: make sure a pass is due by then. */
void pa_purge_later(uint64_t now) {
    uint64_t due = 0;
    atomic_compare_exchange_strong_explicit(&pa_g.purge_due_ms, &due, now + pa_g.decay_ms + 1,
                                            memory_order_relaxed, memory_order_relaxed);
}

/* Called when a heap takes a page: if a purge pass is due, run it.  Cached
** large mappings and dirty slices otherwise wait for the next span or
** large free, and a program that then only allocates small blocks would
** keep them resident for good.  No lock unless a pass is due. */
void pa_purge_tick(uint64_t now) {
    uint64_t due = atomic_load_explicit(&pa_g.purge_due_ms, memory_order_relaxed);
    if (!due || now < due) return;
    pa_lock();
    if (atomic_exchange_explicit(&pa_g.purge_due_ms, 0, memory_order_relaxed) != 0) {
        pa_purge(false);
        if (pa_large_cache_waiting() || (size_t)atomic_load_explicit(&pa_g.dirty, memory_order_relaxed) > pa_g.dirty_keep)
            pa_purge_later(now);
    }
    pa_unlock();
}

/* Purge dirty free slices: all of them (`all`), or, once more than
** dirty_keep bytes are dirty, the old ones.  Slices age in generations:
** those freed since a segment's young window opened are young; when the
** window is older than the decay, the young become old and a new window
** opens; a pass purges the old, and every dirty slice of a segment where
** nothing was freed for the decay.  So a slice is purged between one and
** two decays after its free, never the moment after, however busy its
** segment (a segment-wide "dirty since" purged slices freed a moment
** before, and a batch that freed and re-took its pages every round faulted
** them all back in).  dirty_keep is the hysteresis for the rest.  Returns
** the bytes released. */
size_t pa_purge(bool all) {
    size_t cached = pa_large_cache_purge(all);
    if (!all && (size_t)atomic_load_explicit(&pa_g.dirty, memory_order_relaxed) <= pa_g.dirty_keep) return cached;
    uint64_t now = pa_clock_ms();
    size_t released = 0;
    for (pa_segment_t *s = pa_g.segments; s; s = s->next) {
        if (!s->dirty_mask) continue;
        bool quiet = now - s->last_dirty >= pa_g.decay_ms;
        uint64_t m = all || quiet ? s->dirty_mask : s->dirty_mask & ~s->young_mask;
        if (!all && !quiet && now - s->young_since >= pa_g.decay_ms) {
            s->young_mask = 0;                  /* the next pass may take them */
            s->young_since = now;
        }
        s->dirty_mask &= ~m;
        s->young_mask &= s->dirty_mask;
        while (m) {
            unsigned i = (unsigned)__builtin_ctzll(m);
            uint64_t rest = ~(m >> i);
            unsigned n = rest ? (unsigned)__builtin_ctzll(rest) : 64 - i;
            pa_os_decommit(slice_addr(s, i), (size_t)n * PA_SLICE_SIZE);
            released += (size_t)n * PA_SLICE_SIZE;
            m &= ~slice_bits(i, n);
        }
    }
    atomic_fetch_sub_explicit(&pa_g.dirty, (int64_t)released, memory_order_relaxed);
    if (all) {
        while (pa_g.spare) {
            pa_segment_t *s = pa_g.spare;
            pa_g.spare = s->next;
            pa_map_set((uintptr_t)s, PA_SEG_SIZE, PA_MAP_NONE);
            pa_os_unmap(s, PA_SEG_SIZE);
            atomic_fetch_sub_explicit(&pa_g.reserved, (int64_t)PA_SEG_SIZE, memory_order_relaxed);
            released += PA_SEG_SIZE - PA_SLICE_SIZE;
        }
        pa_g.nspare = 0;
    }
    return released + cached;
}
