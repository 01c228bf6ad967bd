/*
** large.c -- libpool's large blocks: requests above the largest size class
** get a mapping of their own, aligned to 4 MiB so the segment map can
** vouch for them, page-rounded, unmapped on free and resized with mremap.
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

/* Mapping size for n bytes at offset off, or 0 if it cannot be had. */
static size_t large_map_size(size_t off, size_t n) {
    if (n > SIZE_MAX - off - PA_OS_PAGE) return 0;
    size_t sz = (off + n + PA_OS_PAGE - 1) & ~(size_t)(PA_OS_PAGE - 1);
    if ((sz >> PA_SEG_SHIFT) >= PA_MAP_MAXDIST) return 0;
    return sz;
}

void *pa_large_alloc(pa_heap_t *h, size_t n, size_t align) {
    if (n == 0) n = 1; /* a unique address inside the mapping */
    size_t req = n;
    if (h->debug) {
        if (n > SIZE_MAX - PA_DEBUG_EXTRA) { errno = ENOMEM; return NULL; }
        n += PA_DEBUG_EXTRA;
    }
    size_t off = align > LARGE_HDR ? align : LARGE_HDR;
    size_t map = large_map_size(off, n);
    if (!map || !pa_commit_ok(map)) { errno = ENOMEM; return NULL; }
    pa_large_t probe = { .map_size = map, .offset = off, .request = req };
    if (h->kind == PA_HEAP_USER) {
        size_t add = h->sized || h->debug ? req : map - off;
        if ((uint64_t)(PA_CNT_GET(h->live) + (int64_t)add) > h->limit) { errno = ENOMEM; return NULL; }
    }
    pa_large_t *lg = pa_os_map(map, align > PA_SEG_SIZE ? align : PA_SEG_SIZE);
    if (!lg) return NULL;
    *lg = probe;
    lg->magic = pa_g.key ^ (uintptr_t)lg;
    lg->debug = h->debug;
    lg->heap = h;
    if (h->kind == PA_HEAP_USER) pa_heap_take(h, large_charge(h, lg)); /* checked above */
    large_account(h, lg, +1);
    PA_CNT_ADD(h->large_allocs, 1);
    large_mapped((int64_t)map);
    pa_lock();
    large_link(lg);
    pa_unlock();
    pa_map_set((uintptr_t)lg, map, PA_MAP_LARGE);
    uint8_t *p = (uint8_t *)lg + off;
    if (h->debug) memset(p + req, PA_CANARY, map - off - req);
    PA_TOOL_ALLOC(p, req, 1);
    return p;
}

/* Unmap lg; the map forgets it first.  Lock held. */
void pa_large_release_locked(pa_large_t *lg) {
    large_unlink(lg);
    pa_map_set((uintptr_t)lg, lg->map_size, PA_MAP_NONE);
    lg->magic = 0;
    large_mapped(-(int64_t)lg->map_size);
    pa_os_unmap(lg, lg->map_size);
}

/* Free from heap h: the block's own heap gets its bytes back; the counts
** of blocks and bytes go to the freeing heap like every other free. */
void pa_large_free(pa_heap_t *h, pa_large_t *lg) {
    if (lg->debug) {
        uint8_t *p = (uint8_t *)lg + lg->offset;
        for (size_t i = lg->request; i < lg->map_size - lg->offset; i++)
            if (p[i] != PA_CANARY) pa_fault("heap buffer overflow past", p, lg->request);
    }
    PA_TOOL_FREE((uint8_t *)lg + lg->offset);
    large_account(h, lg, -1);
    if (h && h != &pa_empty_heap) PA_CNT_ADD(h->large_frees, 1);
    else atomic_fetch_add_explicit(&pa_g.loose_large_frees, 1, memory_order_relaxed);
    pa_lock();
    if (lg->heap == h && h->kind == PA_HEAP_USER) PA_CNT_ADD(h->live, -(int64_t)large_charge(h, lg));
    pa_large_release_locked(lg);
    pa_unlock();
}

/* Resize a large block to n > PA_MAX_CLASS bytes: in place if the kernel
** can, else moved with mremap into a fresh aligned range (no copy).  NULL
** with ENOMEM leaves the block as it was. */
void *pa_large_realloc(pa_heap_t *h, pa_large_t *lg, size_t n) {
    size_t map = large_map_size(lg->offset, n);
    if (!map) { errno = ENOMEM; return NULL; }
    pa_lock();
    pa_heap_t *owner = lg->heap;
    pa_unlock();
    bool charged = owner && owner->kind == PA_HEAP_USER && owner == h;
    size_t before = charged ? large_charge(owner, lg) : 0;
    if (charged && owner->limit != SIZE_MAX) {
        size_t after = owner->sized ? n : map - lg->offset;
        if (after > before && (uint64_t)(PA_CNT_GET(owner->live) + (int64_t)(after - before)) > owner->limit) {
            errno = ENOMEM;
            return NULL;
        }
    }
    if (map > lg->map_size && !pa_commit_ok(map - lg->map_size)) { errno = ENOMEM; return NULL; }
    large_account(h, lg, -1);
    pa_lock();
    large_unlink(lg);
    pa_map_set((uintptr_t)lg, lg->map_size, PA_MAP_NONE);
    pa_large_t *nl = lg;
    size_t old_map = lg->map_size;
    if (map != old_map) {
        void *r = mremap(lg, lg->map_size, map, 0);
        if (r == MAP_FAILED) {
            size_t align = lg->offset > PA_SEG_SIZE ? lg->offset : PA_SEG_SIZE;
            void *t = pa_os_map(map, align);
            r = t ? mremap(lg, lg->map_size, map, MREMAP_MAYMOVE | MREMAP_FIXED, t) : MAP_FAILED;
            if (r == MAP_FAILED) {
                if (t) pa_os_unmap(t, map);
                large_link(lg);
                pa_map_set((uintptr_t)lg, lg->map_size, PA_MAP_LARGE);
                pa_unlock();
                large_account(h, lg, +1);
                errno = ENOMEM;
                return NULL;
            }
        }
        atomic_fetch_add_explicit(&pa_g.mmaps, 1, memory_order_relaxed);
        large_mapped((int64_t)map - (int64_t)old_map);
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
        PA_CNT_ADD(owner->live, -(int64_t)before);
        pa_heap_take(owner, large_charge(owner, nl)); /* checked above */
    }
    PA_TOOL_FREE((uint8_t *)lg + nl->offset);
    PA_TOOL_ALLOC((uint8_t *)nl + nl->offset, n, 0);
    return (uint8_t *)nl + nl->offset;
}
