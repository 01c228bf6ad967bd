/*
** large.c -- libpool's large blocks: requests above the largest size class
** get a mapping of their own, aligned to 4 MiB so the segment map can
** vouch for them, page-rounded, resized with mremap, and on free kept a
** short while for reuse (up to 16 MiB each, 32 MiB in all) or unmapped.
*/
#define _GNU_SOURCE
#include <sys/mman.h>

#include "internal.h"

#define LARGE_HDR ((sizeof(pa_large_t) + 63) & ~(size_t)63)
_Static_assert(sizeof(pa_large_t) <= 64, "a large block's header fits in 64 bytes");

size_t pa_large_usable(const pa_large_t *lg) {
    if (lg->debug) return lg->request;
    return lg->map_size - lg->offset;
}

/* Bytes a heap counts for a large block. */
static size_t large_charge(const pa_heap_t *h, const pa_large_t *lg) {
    return h->sized || h->debug ? lg->request : lg->map_size - lg->offset;
}

/* Add (+1) or remove (-1) lg in the counters of heap h and of the process. */
static void large_account(pa_heap_t *h, const pa_large_t *lg, int sign) {
    int64_t bytes = (int64_t)(lg->map_size - lg->offset);
    if (h == NULL || h == &pa_empty_heap) {
        atomic_fetch_add_explicit(&pa_g.loose_large_blocks, sign, memory_order_relaxed);
        atomic_fetch_add_explicit(&pa_g.loose_large_bytes, sign * bytes, memory_order_relaxed);
    } else {
        PA_CNT_ADD(h->large_blocks, sign);
        PA_CNT_ADD(h->large_bytes, sign * bytes);
        /* A large block can come and go between two page takes, where a
        ** thread heap samples its peak: sample it here too. */
        if (sign > 0) pa_heap_sample_peak(h);
    }
}

/* The process's mapped and in-use bytes change by delta. */
static void large_mapped(int64_t delta) {
    atomic_fetch_add_explicit(&pa_g.committed, delta, memory_order_relaxed);
    atomic_fetch_add_explicit(&pa_g.reserved, delta, memory_order_relaxed);
}

static void large_link(pa_large_t *lg) {
    lg->prev = NULL;
    lg->next = pa_g.large;
    if (lg->next) lg->next->prev = lg;
    pa_g.large = lg;
}

static void large_unlink(pa_large_t *lg) {
    if (lg->prev) lg->prev->next = lg->next; else pa_g.large = lg->next;
    if (lg->next) lg->next->prev = lg->prev;
}

/* Unmap bytes that are mapped but no longer in use (a freed block's
** mapping, a cached one, or the cut-off tail of one). */
static void large_unmap_idle(void *p, size_t size) {
    pa_os_unmap(p, size);
    atomic_fetch_sub_explicit(&pa_g.reserved, (int64_t)size, memory_order_relaxed);
}

/* ---- the cache of freed mappings ----
** A program that frees and allocates big buffers in turn (string builders,
** growing arrays, per-request buffers) would pay an munmap, an mmap and a
** page fault per 4 KiB each time.  A freed mapping of up to LCACHE_ONE
** bytes waits here instead, resident, for the next large request that
** fits it, for at most the decay (POOL_DECAY_MS); pool_trim() empties it.
** Its map entries are cleared while it waits, so pool_owns() and every
** free treat it as memory libpool does not have.  It waits PROT_NONE, and
** is moved (mremap, no copy) to a fresh address when it is reused, so a
** write through a dangling pointer faults, before and after the reuse,
** as it would on an unmapped block.  All under the lock. */
#define LCACHE_N     8
#define LCACHE_ONE   ((size_t)16 << 20)
#define LCACHE_BYTES ((size_t)32 << 20)

static struct { void *base; size_t size; uint64_t since; } lcache[LCACHE_N];
static unsigned lcache_n;
static size_t lcache_bytes;
/* Copies of the oldest entry's time (UINT64_MAX: none) and of
** lcache_bytes, for pa_large_cache_on_growth to read without the lock. */
static _Atomic uint64_t lcache_oldest = UINT64_MAX;
static _Atomic int64_t lcache_held;
/* The most the process has held at once (held_now), as of its last growth. */
static _Atomic int64_t held_peak;

/* Update the copies after an entry came or went.  Lock held. */
static void lcache_changed(void) {
    uint64_t oldest = UINT64_MAX;
    for (unsigned i = 0; i < lcache_n; i++)
        if (lcache[i].since < oldest) oldest = lcache[i].since;
    atomic_store_explicit(&lcache_oldest, oldest, memory_order_relaxed);
    atomic_store_explicit(&lcache_held, (int64_t)lcache_bytes, memory_order_relaxed);
}

/* Unmap cache entry i and close the gap. */
static size_t lcache_drop(unsigned i) {
    size_t size = lcache[i].size;
    large_unmap_idle(lcache[i].base, size);
    lcache_bytes -= size;
    lcache[i] = lcache[--lcache_n];
    lcache_changed();
    return size;
}

/* Release the entries that have waited `age` ms or more; the bytes
** released.  Lock held. */
static size_t lcache_release(uint64_t now, uint64_t age) {
    size_t released = 0;
    for (unsigned i = lcache_n; i-- > 0;)
        if (now - lcache[i].since >= age) released += lcache_drop(i);
    return released;
}

/* Release the entries older than the decay (all of them with `all`);
** the bytes released. */
size_t pa_large_cache_purge(bool all) {
    if (!lcache_n) return 0;
    return lcache_release(pa_clock_ms(), all ? 0 : pa_g.decay_ms);
}

/* What the process holds resident, as libpool counts it: committed spans
** and large blocks, dirty free slices, cached mappings.  Blocks it never
** wrote count too, so this is at least its share of the RSS. */
static int64_t held_now(void) {
    return atomic_load_explicit(&pa_g.committed, memory_order_relaxed) +
           atomic_load_explicit(&pa_g.dirty, memory_order_relaxed) +
           atomic_load_explicit(&lcache_held, memory_order_relaxed);
}

/* The process just committed memory (a span, a large mapping, a large
** block's growth).  If it now holds more than it ever did, the cached
** mappings that have waited pa_idle_wait_ms are unmapped first: the cache
** keeps a freed buffer resident for the decay so that the next one does
** not fault its pages back in, and a program whose buffers come back
** reuses them, but one that goes on to build something else held them at
** its peak beside the new memory (xml_etree and json_dumps under
** POOLALLOC=1: 0.3-0.8 MiB of their peak RSS, 2026-12-06).  Only at a new
** peak, which is what a peak RSS counts: a program that repeats its work
** stays under the peak of its first round and keeps its buffers (unmapping
** them at every growth instead cost xml_etree 37% more page faults).
** Cost below the peak: three loads and a compare, no lock. */
static void on_growth(bool locked) {
    int64_t held = held_now(), peak = atomic_load_explicit(&held_peak, memory_order_relaxed);
    if (held <= peak) return;
    uint64_t oldest = atomic_load_explicit(&lcache_oldest, memory_order_relaxed);
    if (oldest != UINT64_MAX) {
        uint64_t now = pa_clock_ms();
        if (now - oldest >= pa_idle_wait_ms()) {
            if (!locked) pa_lock();
            lcache_release(now, pa_idle_wait_ms());
            if (!locked) pa_unlock();
            held = held_now();
        }
    }
    while (held > peak && !atomic_compare_exchange_weak_explicit(&held_peak, &peak, held, memory_order_relaxed,
                                                                 memory_order_relaxed)) {
    }
}

void pa_large_cache_on_growth(void) { on_growth(false); }

/* Whether a freed mapping waits in the cache.  Lock held. */
bool pa_large_cache_waiting(void) { return lcache_n != 0; }

/* Keep a freed mapping, evicting the oldest entries to make room; false
** when it is too big to keep. */
static bool lcache_put(void *base, size_t size) {
    if (size > LCACHE_ONE || pa_g.decay_ms == 0) return false;
    pa_large_cache_purge(false);
    while (lcache_n && (lcache_n == LCACHE_N || lcache_bytes + size > LCACHE_BYTES)) {
        unsigned oldest = 0;
        for (unsigned i = 1; i < lcache_n; i++)
            if (lcache[i].since < lcache[oldest].since) oldest = i;
        lcache_drop(oldest);
    }
    PA_TOOL_NOACCESS(base, size);
    pa_os_protect(base, size, false);
    lcache[lcache_n].base = base;
    lcache[lcache_n].size = size;
    lcache[lcache_n].since = pa_clock_ms();
    pa_purge_by(lcache[lcache_n].since + pa_g.decay_ms + 1);
    lcache_n++;
    lcache_bytes += size;
    lcache_changed();
    return true;
}

/* The smallest cached mapping of at least `size` bytes, cut to `size` (the
** tail is unmapped), or NULL.  A miss means every entry is smaller than
** the request: they are let go now, not at the decay, so a program whose
** buffers keep growing does not hold the outgrown ones resident beside
** the new one. */
static void *lcache_take(size_t size) {
    unsigned best = LCACHE_N;
    for (unsigned i = 0; i < lcache_n; i++)
        if (lcache[i].size >= size && (best == LCACHE_N || lcache[i].size < lcache[best].size))
            best = i;
    if (best == LCACHE_N) {
        while (lcache_n) lcache_drop(lcache_n - 1);
        return NULL;
    }
    void *base = lcache[best].base;
    size_t have = lcache[best].size;
    lcache_bytes -= have;
    lcache[best] = lcache[--lcache_n];
    lcache_changed();
    if (have > size) large_unmap_idle((uint8_t *)base + size, have - size);
    void *to = pa_os_map(size, PA_SEG_SIZE);
    /* The old range's poison goes before the move: once moved, another
    ** thread may map those addresses (ASan reported its fresh header). */
    if (to) PA_TOOL_UNMAP(base, size);
    void *moved = to ? mremap(base, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to) : MAP_FAILED;
    if (moved != MAP_FAILED) {
        base = moved;                /* the old range is gone: a dangling write faults */
    } else if (to) {
        pa_os_unmap(to, size);       /* kept in place, still checked: reused */
    }
    if (!pa_os_protect(base, size, true)) {       /* no more mappings: a miss */
        large_unmap_idle(base, size);
        return NULL;
    }
    atomic_fetch_add_explicit(&pa_g.committed, (int64_t)size, memory_order_relaxed);
    PA_TOOL_INTERNAL(base, size);
    return base;
}

/* Mapping size for n bytes at offset off, or 0 if it cannot be had. */
static size_t large_map_size(size_t off, size_t n) {
    if (n > SIZE_MAX - off - PA_OS_PAGE) return 0;
    size_t sz = (off + n + PA_OS_PAGE - 1) & ~(size_t)(PA_OS_PAGE - 1);
    if ((sz >> PA_SEG_SHIFT) >= PA_MAP_MAXDIST) return 0;
    return sz;
}

/* A debug heap's malloc(0) comes here too: its address is the start of a
** PROT_NONE page after the header, so any read or write of it faults. */
void *pa_large_alloc(pa_heap_t *h, size_t n, size_t align) {
    bool zero = h->debug && n == 0;
    if (zero && align < PA_OS_PAGE) align = PA_OS_PAGE;
    if (n == 0) n = 1; /* a unique address inside the mapping */
    size_t req = zero ? 0 : n;
    if (h->debug) {
        if (n > SIZE_MAX - PA_DEBUG_EXTRA) { errno = ENOMEM; return NULL; }
        n += PA_DEBUG_EXTRA;
    }
    size_t off = align > LARGE_HDR ? align : LARGE_HDR;
    size_t map = large_map_size(off, n);
    if (map) pa_heap_make_room(h, map);
    if (!map || !pa_commit_ok(map)) { errno = ENOMEM; return NULL; }
    pa_large_t probe = { .map_size = map, .offset = off, .request = req };
    if (h->kind == PA_HEAP_USER) {
        size_t add = h->sized || h->debug ? req : map - off;
        if ((uint64_t)(pa_heap_live(h) + (int64_t)add) > h->limit) { errno = ENOMEM; return NULL; }
    }
    pa_lock();
    pa_large_t *lg = align <= PA_SEG_SIZE ? lcache_take(map) : NULL;
    pa_unlock();
    if (lg) {
        probe.reused = 1;
    } else {
        pa_heap_purge_idle(h, pa_clock_ms());
        if (!(lg = pa_os_map(map, align > PA_SEG_SIZE ? align : PA_SEG_SIZE))) return NULL;
        large_mapped((int64_t)map);
        on_growth(false);
    }
    *lg = probe;
    lg->magic = pa_g.key ^ (uintptr_t)lg;
    lg->debug = zero ? PA_LARGE_ZERO : (uint32_t)h->debug;
    lg->heap = h;
    if (h->kind == PA_HEAP_USER) pa_heap_take(h, large_charge(h, lg)); /* checked above */
    large_account(h, lg, +1);
    PA_CNT_ADD(h->large_allocs, 1);
    PA_CNT_ADD(h->large_alloc_bytes, map - off);
    pa_lock();
    large_link(lg);
    pa_unlock();
    pa_map_set((uintptr_t)lg, map, PA_MAP_LARGE);
    uint8_t *p = (uint8_t *)lg + off;
    if (zero) pa_os_protect(p, map - off, false);
    else if (h->debug) memset(p + req, PA_CANARY, map - off - req);
    PA_TOOL_ALLOC(p, req, !lg->reused);
    return p;
}

/* Let lg go: the map forgets it first, then its mapping waits in the cache
** if it can, else is unmapped.  Lock held. */
void pa_large_release_locked(pa_large_t *lg) {
    large_unlink(lg);
    size_t size = lg->map_size;
    pa_map_set((uintptr_t)lg, size, PA_MAP_NONE);
    lg->magic = 0;
    atomic_fetch_sub_explicit(&pa_g.committed, (int64_t)size, memory_order_relaxed);
    if (lg->offset == LARGE_HDR && lcache_put(lg, size)) return;   /* not over-aligned: reusable */
    large_unmap_idle(lg, size);
}

/* Free from heap h: the block's own heap gets its bytes back; the counts
** of blocks and bytes go to the freeing heap like every other free. */
void pa_large_free(pa_heap_t *h, pa_large_t *lg) {
    if (lg->debug == 1) {
        uint8_t *p = (uint8_t *)lg + lg->offset;
        for (size_t i = lg->request; i < lg->map_size - lg->offset; i++)
            if (p[i] != PA_CANARY) pa_fault("heap buffer overflow past", p, lg->request);
    }
    PA_TOOL_FREE((uint8_t *)lg + lg->offset);
    large_account(h, lg, -1);
    if (h && h != &pa_empty_heap) PA_CNT_ADD(h->large_frees, 1);
    else atomic_fetch_add_explicit(&pa_g.loose_large_frees, 1, memory_order_relaxed);
    pa_lock();
    if (lg->heap == h && h->kind == PA_HEAP_USER) pa_heap_give(h, (int64_t)large_charge(h, lg));
    pa_large_release_locked(lg);
    pa_unlock();
}

/* Resize a large block to n > PA_MAX_CLASS bytes: in place when its
** mapping already fits, else with mremap (growing by at least a quarter),
** in place if the kernel can, else moved into a fresh aligned range (no
** copy).  NULL with ENOMEM leaves the block as it was. */
void *pa_large_realloc(pa_heap_t *h, pa_large_t *lg, size_t n) {
    size_t map = large_map_size(lg->offset, n);
    if (!map) { errno = ENOMEM; return NULL; }
    /* Only a first-class heap's own block is charged to it.  The owner is
    ** compared with h, never followed, so it is read without the lock (a
    ** thread heap's exit may clear it meanwhile: then it is not h either),
    ** and a thread heap's realloc does not read it at all. */
    pa_heap_t *owner = h->kind == PA_HEAP_USER ? __atomic_load_n(&lg->heap, __ATOMIC_RELAXED) : NULL;
    bool charged = owner == h;
    size_t before = charged ? large_charge(owner, lg) : 0;
    if (map > lg->map_size && (!charged || owner->limit == SIZE_MAX)) {
        /* Growing: take a quarter more than asked, so a buffer that grows
        ** a little at a time remaps O(log n) times, not once per page.  The
        ** slack costs address space, not memory, until it is written. */
        size_t slack = large_map_size(lg->offset, lg->map_size - lg->offset + lg->map_size / 4);
        if (slack > map && pa_commit_ok(slack - lg->map_size)) map = slack;
    }
    if (charged && owner->limit != SIZE_MAX) {
        size_t after = owner->sized ? n : map - lg->offset;
        if (after > before && (uint64_t)(pa_heap_live(owner) + (int64_t)(after - before)) > owner->limit) {
            errno = ENOMEM;
            return NULL;
        }
    }
    if (map <= lg->map_size && map >= lg->map_size / 2) {
        /* It fits the pages it has (a buffer growing a little at a time,
        ** or shrinking by less than half): no syscall, no lock, no map
        ** update. */
        size_t old_request = lg->request;
        lg->request = n;
        if (charged) {
            pa_heap_give(owner, (int64_t)before);
            pa_heap_take(owner, large_charge(owner, lg)); /* checked above */
        }
        void *p = (uint8_t *)lg + lg->offset;
        PA_TOOL_RESIZE(p, old_request, n);
        (void)old_request;
        return p;
    }
    if (map > lg->map_size) pa_heap_make_room(h, map - lg->map_size);
    if (map > lg->map_size && !pa_commit_ok(map - lg->map_size)) { errno = ENOMEM; return NULL; }
    large_account(h, lg, -1);
    pa_lock();
    large_unlink(lg);
    pa_map_set((uintptr_t)lg, lg->map_size, PA_MAP_NONE);
    pa_large_t *nl = lg;
    size_t old_map = lg->map_size;
    if (map != old_map) {
        void *r = pa_os_remap(lg, old_map, map, lg->offset > PA_SEG_SIZE ? lg->offset : PA_SEG_SIZE);
        if (!r) {
            large_link(lg);
            pa_map_set((uintptr_t)lg, lg->map_size, PA_MAP_LARGE);
            pa_unlock();
            large_account(h, lg, +1);
            errno = ENOMEM;
            return NULL;
        }
        large_mapped((int64_t)map - (int64_t)old_map);
        if (map > old_map) on_growth(true);
        nl = r;
        nl->map_size = map;
        nl->magic = pa_g.key ^ (uintptr_t)nl;
    }
    nl->request = n;
    large_link(nl);
    pa_map_set((uintptr_t)nl, map, PA_MAP_LARGE);
    pa_unlock();
    large_account(h, nl, +1);
    if (charged) {
        pa_heap_give(owner, (int64_t)before);
        pa_heap_take(owner, large_charge(owner, nl)); /* checked above */
    }
    PA_TOOL_FREE((uint8_t *)lg + nl->offset);
    PA_TOOL_ALLOC((uint8_t *)nl + nl->offset, n, 0);
    return (uint8_t *)nl + nl->offset;
}
