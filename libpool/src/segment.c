/*
** segment.c -- libpool's segments: 4 MiB aligned regions cut into 64 KiB
** slices, handed out as spans (pages) and taken back, with decayed
** purging of free slices.  Each segment belongs to a heap, which takes its
** spans without the global lock; claiming, dropping and purging segments
** take it.
*/
#include <sched.h>

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

/* A segment's own lock: its slice bookkeeping.  The owner takes it
** uncontended (an exchange and a store); another thread holds it for a
** span give-back, a purge (a few system calls) or a read. */
void pa_segment_lock(pa_segment_t *s) {
    for (unsigned spins = 0; atomic_exchange_explicit(&s->lock, 1, memory_order_acquire); spins++) {
        if (spins >= 64) sched_yield();
#if defined(__x86_64__) || defined(__i386__)
        else __builtin_ia32_pause();
#endif
    }
}
void pa_segment_unlock(pa_segment_t *s) { atomic_store_explicit(&s->lock, 0, memory_order_release); }

static pa_heap_t *seg_owner(pa_segment_t *s) { return atomic_load_explicit(&s->heap, memory_order_relaxed); }

/* Link s into h's segments (NULL: none).  Lock held. */
static void seg_adopt(pa_segment_t *s, pa_heap_t *h) {
    atomic_store_explicit(&s->heap, h, memory_order_relaxed);
    s->hprev = NULL;
    s->hnext = h ? h->segs : NULL;
    if (!h) return;
    if (h->segs) h->segs->hprev = s;
    h->segs = s;
}

/* Unlink s from its owner's segments.  Lock held; the owner is the caller. */
static void seg_disown(pa_segment_t *s) {
    pa_heap_t *h = seg_owner(s);
    if (!h) return;
    if (s->hprev) s->hprev->hnext = s->hnext; else h->segs = s->hnext;
    if (s->hnext) s->hnext->hprev = s->hprev;
    s->hnext = s->hprev = NULL;
    atomic_store_explicit(&s->heap, NULL, memory_order_relaxed);
}

/* free_mask of a segment with no span: every slice but the header. */
#define SEG_EMPTY (~1ull)

/* Forget a segment and give its mapping back.  Lock held. */
static void segment_unmap(pa_segment_t *s) {
    pa_map_set((uintptr_t)s, PA_SEG_SIZE, PA_MAP_NONE);
    pa_os_unmap(s, PA_SEG_SIZE);
    atomic_fetch_sub_explicit(&pa_g.reserved, (int64_t)PA_SEG_SIZE, memory_order_relaxed);
}

/* A new segment for h: the spare, or mapped and registered, every slice
** but the header free.  Lock held. */
static pa_segment_t *segment_new(pa_heap_t *h) {
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
        /* Only what a free slice is read through: a page descriptor is
        ** written when its span is taken, so a heap that uses a few
        ** slices touches one OS page of the header, not three. */
        for (unsigned i = 0; i < PA_SLICES; i++) s->slice_page[i] = &pa_empty_page;
        s->free_mask = SEG_EMPTY;
        s->dirty_mask = s->young_mask = 0;
        pa_map_set((uintptr_t)s, PA_SEG_SIZE, PA_MAP_SEGMENT);
    }
    s->prev = NULL;
    s->next = pa_g.segments;
    if (s->next) s->next->prev = s;
    pa_g.segments = s;
    seg_adopt(s, h);
    return s;
}

/* An empty segment: kept as a spare (purged), or unmapped.  Lock held; no
** heap but the caller's can reach it (its own, or abandoned). */
static void segment_drop(pa_segment_t *s) {
    PA_ASSERT(s->free_mask == SEG_EMPTY);
    seg_disown(s);
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
    segment_unmap(s);
}

/* A dying heap's segments are abandoned, for the next heap short of slices
** to claim: those with live blocks (orphan pages, or pages other heaps
** adopted), and the empty ones too, resident, so that a thread that
** replaces this one takes them with no system call; a pass drops those
** still empty after the decay.  Lock held. */
void pa_segments_abandon(pa_heap_t *h) {
    if (!h->segs) return;
    while (h->segs) seg_disown(h->segs);
    pa_purge_by(pa_clock_ms() + pa_g.decay_ms + 1);
}

/* fork: every segment's bookkeeping is consistent in the child (the lock is
** held: nothing is being added or dropped). */
void pa_segments_lock_all(void) {
    for (pa_segment_t *s = pa_g.segments; s; s = s->next) pa_segment_lock(s);
}
void pa_segments_unlock_all(bool child) {
    for (pa_segment_t *s = pa_g.segments; s; s = s->next)
        if (child) atomic_init(&s->lock, 0); else pa_segment_unlock(s);
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

/* Take a span of `slices` slices from s, which has a run of them: a
** resident (dirty) run if there is one, since it costs no page faults and
** no new memory.  NULL with ENOMEM if the slices cannot be opened.  s's
** lock held. */
static pa_page_t *span_take(pa_segment_t *s, unsigned slices) {
    size_t bytes = (size_t)slices * PA_SLICE_SIZE;
    uint64_t rd = runs_of(s->dirty_mask, slices);
    unsigned at = span_at(rd ? rd : runs_of(s->free_mask, slices), slices);
    uint64_t bits = slice_bits(at, slices);
    PA_ASSERT((s->free_mask & bits) == bits);
    int64_t was_dirty = __builtin_popcountll(s->dirty_mask & bits);
    uint8_t *base = slice_addr(s, at);
    bool guard = atomic_load_explicit(&pa_g.reserved, memory_order_relaxed) < GUARD_MAX;
    if (was_dirty < (int64_t)slices && !pa_os_protect(base, bytes - (guard ? PA_GUARD : 0), true)) {
        errno = ENOMEM;
        return NULL;
    }
    if (guard && (s->dirty_mask & (1ull << (at + slices - 1)))) pa_os_protect(base + bytes - PA_GUARD, PA_GUARD, false);
    s->free_mask &= ~bits;
    s->dirty_mask &= ~bits;
    s->young_mask &= ~bits;
    if (was_dirty) atomic_fetch_sub_explicit(&pa_g.dirty, was_dirty * (int64_t)PA_SLICE_SIZE, memory_order_relaxed);
    pa_page_t *pg = &s->pages[at];
    pg->index = (uint16_t)at;
    pg->slices = (uint16_t)slices;
    for (unsigned i = 0; i < slices; i++) s->slice_page[at + i] = pg;
    atomic_fetch_add_explicit(&pa_g.committed, (int64_t)bytes, memory_order_relaxed);
    return pg;
}

/* span_take under s's lock. */
static pa_page_t *span_from(pa_segment_t *s, unsigned slices) {
    pa_segment_lock(s);
    pa_page_t *pg = span_take(s, slices);
    pa_segment_unlock(s);
    return pg;
}

/* The abandoned segment to take a span of `slices` from: the one with the
** most resident free slices among those with a resident run (they are
** reused, and the least used are left to the decay), else the first with
** any run; NULL if none has one.  Lock held. */
static pa_segment_t *segment_abandoned(unsigned slices) {
    pa_segment_t *best = NULL;
    int most = -1;
    for (pa_segment_t *s = pa_g.segments; s; s = s->next) {
        if (seg_owner(s)) continue;
        pa_segment_lock(s);
        int score = !runs_of(s->free_mask, slices) ? -1
                    : runs_of(s->dirty_mask, slices) ? 1 + __builtin_popcountll(s->dirty_mask) : 0;
        pa_segment_unlock(s);
        if (score > most) { best = s; most = score; }
    }
    return best;
}

/* A heap with less than this much in spans takes them from abandoned
** segments, shared, under the global lock, and claims none: its first
** pages pack in beside those of other small heaps.  A thread that keeps a
** few pages (threads_churn: 8 of 64 KiB) otherwise holds a segment of its
** own, whose slices its successors carve anew: peak RSS 2.5 -> 2.8 MiB there
** with every heap claiming (glibc: 2.1).  Past it, the heap claims; the
** segment it shared is the first it may claim. */
#define SHARED_MAX ((int64_t)1 << 20)

/* A span of `slices` slices for heap h, from its own segments (the first
** with a resident run, else the first with any run), without the global
** lock; only when they have no run does h go to the others, under it: a
** small heap shares an abandoned one, a larger one claims a segment.  A
** segment is searched under its own lock, which only its owner takes for a
** span, so a run seen stays free. */
pa_page_t *pa_span_alloc(pa_heap_t *h, unsigned slices) {
    if (!pa_commit_ok((size_t)slices * PA_SLICE_SIZE)) { errno = ENOMEM; return NULL; }
    pa_segment_t *best = NULL;
    for (pa_segment_t *s = h->segs; s; s = s->hnext) {
        pa_segment_lock(s);
        if (runs_of(s->free_mask, slices)) {
            if (runs_of(s->dirty_mask, slices)) {
                pa_page_t *pg = span_take(s, slices);
                pa_segment_unlock(s);
                return pg;
            }
            if (!best) best = s;
        }
        pa_segment_unlock(s);
    }
    if (!best) {
        pa_lock();
        bool shared = PA_CNT_GET(h->committed) < SHARED_MAX;
        best = segment_abandoned(slices);
        if (!best) best = segment_new(shared ? NULL : h);
        else if (!shared) seg_adopt(best, h);      /* claimed */
        /* A shared segment's span is taken under the global lock too: no
        ** heap claims the segment meanwhile. */
        pa_page_t *pg = best && shared ? span_from(best, slices) : NULL;
        pa_unlock();
        if (!best || shared) return pg;
    }
    return span_from(best, slices);
}

/* Take a span back, from its owner or from a heap that adopted the page
** (under the segment's lock only).  Its slices stay resident (dirty) until
** a purge pass takes them; `idle`: the span has already waited out the
** decay in its heap's empty cache, so its slices are old at once and do
** not make the segment look busy.  A segment left empty stays with its
** heap until a pass finds it quiet for the decay. */
void pa_span_free(pa_page_t *pg, bool idle) {
    pa_segment_t *s = pa_segment_of(pg);
    unsigned at = pg->index, n = pg->slices;
    uint64_t bits = slice_bits(at, n);
    uint64_t now = pa_clock_ms();
    atomic_store_explicit(&pg->owner, NULL, memory_order_relaxed);
    atomic_store_explicit(&pg->fast, NULL, memory_order_relaxed);
    pa_segment_lock(s);
    PA_ASSERT((s->free_mask & bits) == 0);
    for (unsigned i = 0; i < n; i++) s->slice_page[at + i] = &pa_empty_page;
    /* Dirty slices are read-write: the guard opens.  If it cannot, the
    ** slices count as clean, so the next span over them opens them all
    ** (they stay resident, unseen by the purge, until then). */
    bool open = pa_os_protect((uint8_t *)slice_addr(s, at + n) - PA_GUARD, PA_GUARD, true);
    if (!idle) {
        if (!s->young_mask) s->young_since = now;
        s->young_mask |= bits;
        s->last_dirty = now;
    }
    s->free_mask |= bits;
    if (open) {
        s->dirty_mask |= bits;
        atomic_fetch_add_explicit(&pa_g.dirty, (int64_t)n * (int64_t)PA_SLICE_SIZE, memory_order_relaxed);
    } else {
        s->young_mask &= ~bits;
    }
    bool empty = s->free_mask == SEG_EMPTY;
    pa_segment_unlock(s);
    atomic_fetch_sub_explicit(&pa_g.committed, (int64_t)n * (int64_t)PA_SLICE_SIZE, memory_order_relaxed);
    /* A pass is due when there is work for it: an empty segment to drop,
    ** or dirty slices past the hysteresis (idle ones at once, young ones
    ** once they are old). */
    if (empty || (open && (size_t)atomic_load_explicit(&pa_g.dirty, memory_order_relaxed) > pa_g.dirty_keep))
        pa_purge_by(idle ? now : now + pa_g.decay_ms + 1);
}

/* Something freed may be purged from `due` on: make sure a pass is due by
** then (the earliest such time wins). */
void pa_purge_by(uint64_t due) {
    uint64_t cur = atomic_load_explicit(&pa_g.purge_due_ms, memory_order_relaxed);
    while ((cur == 0 || cur > due) &&
           !atomic_compare_exchange_weak_explicit(&pa_g.purge_due_ms, &cur, due, memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* Called when heap h takes a page or gives spans back: if a purge pass is
** due, run it.  Cached large mappings and dirty slices otherwise wait for
** the next span or large free, and a program that then only allocates
** small blocks would keep them resident for good.  No lock unless a pass
** is due (at most one a decay while something waits). */
void pa_purge_tick(pa_heap_t *h, uint64_t now) {
    uint64_t due = atomic_load_explicit(&pa_g.purge_due_ms, memory_order_relaxed);
    if (!due || now < due) return;
    int saved = errno;
    pa_lock();
    if (atomic_exchange_explicit(&pa_g.purge_due_ms, 0, memory_order_relaxed) != 0) {
        pa_purge(h, false);
        if (pa_large_cache_waiting() || (size_t)atomic_load_explicit(&pa_g.dirty, memory_order_relaxed) > pa_g.dirty_keep)
            pa_purge_by(now + pa_g.decay_ms + 1);
    }
    pa_unlock();
    errno = saved;
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
** them all back in).  dirty_keep is the hysteresis for the rest.  Every
** segment's slices are purged, under its own lock; but only the empty
** segments that are abandoned or h's own (and quiet for the decay, unless
** `all`) are dropped: another live heap reads its list without the lock.
** Returns the bytes released.  Lock held. */
size_t pa_purge(pa_heap_t *h, bool all) {
    size_t released = pa_large_cache_purge(all);
    bool slices = all || (size_t)atomic_load_explicit(&pa_g.dirty, memory_order_relaxed) > pa_g.dirty_keep;
    uint64_t now = pa_clock_ms();
    size_t purged = 0;
    pa_segment_t *next;
    for (pa_segment_t *s = pa_g.segments; s; s = next) {
        next = s->next;
        pa_segment_lock(s);
        bool quiet = now - s->last_dirty >= pa_g.decay_ms;
        if (slices && s->dirty_mask) {
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
                purged += (size_t)n * PA_SLICE_SIZE;
                m &= ~slice_bits(i, n);
            }
        }
        bool empty = s->free_mask == SEG_EMPTY;
        pa_segment_unlock(s);
        pa_heap_t *o = seg_owner(s);
        if (empty && (all || quiet) && (!o || o == h)) segment_drop(s);
    }
    atomic_fetch_sub_explicit(&pa_g.dirty, (int64_t)purged, memory_order_relaxed);
    released += purged;
    if (all) {
        while (pa_g.spare) {
            pa_segment_t *s = pa_g.spare;
            pa_g.spare = s->next;
            segment_unmap(s);
            released += PA_SEG_SIZE - PA_SLICE_SIZE;
        }
        pa_g.nspare = 0;
    }
    return released;
}
