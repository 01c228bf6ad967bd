/*
** os.c -- libpool's one layer over the OS: the page size, aligned
** mappings, resizing them, purging, the segment map that answers "is this
** address ours?", the clock and the process secret.
*/
#define _GNU_SOURCE         /* mremap */
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

/* mmap that counts itself; NULL on failure with errno ENOMEM. */
static void *os_mmap(void *hint, size_t size, int prot, int flags) {
    void *p = mmap(hint, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    atomic_fetch_add_explicit(&pa_g.mmaps, 1, memory_order_relaxed);
    if (p == MAP_FAILED) { errno = ENOMEM; return NULL; }
    return p;
}

void pa_os_unmap(void *p, size_t size) {
    if (!size) return;
    PA_TOOL_UNMAP(p, size);
    munmap(p, size);
    atomic_fetch_add_explicit(&pa_g.munmaps, 1, memory_order_relaxed);
}

/* Map `size` bytes aligned to `align` (a power of two >= the OS page):
** over-map by the alignment and cut off both ends, which works under any
** address-space layout (sanitizers, valgrind) at the cost of two munmaps. */
void *pa_os_map(size_t size, size_t align) {
    if (size > SIZE_MAX - align) { errno = ENOMEM; return NULL; }
    uint8_t *raw = os_mmap(NULL, size + align, PROT_READ | PROT_WRITE, MAP_NORESERVE);
    if (!raw) return NULL;
    uintptr_t a = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = a - (uintptr_t)raw, tail = align - head;
    pa_os_unmap(raw, head);
    pa_os_unmap((uint8_t *)a + size, tail);
    return (void *)a;
}

/* The OS page size, asked once (racing first callers store the same value). */
size_t pa_os_page_size(void) {
    static _Atomic(size_t) page;
    size_t n = atomic_load_explicit(&page, memory_order_relaxed);
    if (PA_UNLIKELY(!n)) {
        long v = sysconf(_SC_PAGESIZE);
        n = v > 0 ? (size_t)v : 4096;
        atomic_store_explicit(&page, n, memory_order_relaxed);
    }
    return n;
}

/* Resize the mapping [p, p+old_size) to new_size: in place when the
** address space allows, else moved to a fresh range aligned to `align`
** (the contents move with the pages, nothing is copied).  NULL with errno
** ENOMEM when neither works; the old mapping is then untouched. */
void *pa_os_remap(void *p, size_t old_size, size_t new_size, size_t align) {
    void *r = mremap(p, old_size, new_size, 0);
    if (r == MAP_FAILED) {
        void *t = pa_os_map(new_size, align);
        if (t) PA_TOOL_UNMAP(p, old_size);   /* before the move: see lcache_take */
        r = t ? mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, t) : MAP_FAILED;
        if (r == MAP_FAILED) {
            if (t) pa_os_unmap(t, new_size);
            errno = ENOMEM;
            return NULL;
        }
    }
    atomic_fetch_add_explicit(&pa_g.mmaps, 1, memory_order_relaxed);
    return r;
}

/* Give the pages back; the range stays mapped and reads as zero again. */
void pa_os_purge(void *p, size_t size) {
    madvise(p, size, MADV_DONTNEED);
    atomic_fetch_add_explicit(&pa_g.madvises, 1, memory_order_relaxed);
}

/* Give the pages back and make the range inaccessible (PROT_NONE) in one
** call: a stray access to free memory faults instead of landing. */
void pa_os_decommit(void *p, size_t size) {
    void *r = mmap(p, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) pa_os_purge(p, size);   /* still given back, only not guarded */
    else atomic_fetch_add_explicit(&pa_g.madvises, 1, memory_order_relaxed);
}

/* Open (read-write) or close (PROT_NONE) a page-aligned range.  False when
** the kernel refuses (ENOMEM: past vm.max_map_count, since every guard
** splits a mapping); callers then do without the guard or the memory. */
bool pa_os_protect(void *p, size_t size, bool access) {
    return mprotect(p, size, access ? PROT_READ | PROT_WRITE : PROT_NONE) == 0;
}

/* Mark the 4 MiB chunks of [start, start+size) as a segment, as a large
** block (with each chunk's distance from the start), or as not ours.
** Clear before unmapping and set after mapping, so pool_owns() never
** claims an address that another allocator could be handed. */
void pa_map_set(uintptr_t start, size_t size, unsigned kind) {
    assert((start & PA_SEG_MASK) == 0);
    size_t first = start >> PA_SEG_SHIFT, n = (size + PA_SEG_MASK) >> PA_SEG_SHIFT;
    for (size_t k = 0; k < n; k++) {
        unsigned v = kind == PA_MAP_LARGE ? PA_MAP_LARGE + (unsigned)k : kind;
        atomic_store_explicit(&pa_map[first + k], (uint16_t)v, memory_order_release);
    }
}

/* The header of the large block whose map entry for p's chunk is `entry`. */
pa_large_t *pa_large_header(const void *p, unsigned entry) {
    uintptr_t chunk = (uintptr_t)p & ~(uintptr_t)PA_SEG_MASK;
    return (pa_large_t *)(chunk - ((uintptr_t)(entry - PA_MAP_LARGE) << PA_SEG_SHIFT));
}

int pool_owns(const void *p) {
    uintptr_t a = (uintptr_t)p;
    unsigned e = pa_map_get(a);
    if (e == PA_MAP_NONE) return 0;
    if (e == PA_MAP_SEGMENT) {
        const pa_page_t *pg = pa_page_of(p);
        return pg != &pa_empty_page && (const uint8_t *)p >= pg->start &&
               (const uint8_t *)p < pg->start + (size_t)pg->reserved * pg->block_size;
    }
    const pa_large_t *lg = pa_large_header(p, e);
    return a >= (uintptr_t)lg + lg->offset && a < (uintptr_t)lg + lg->map_size;
}

uint64_t pa_clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The secret for free-list links: from the kernel, or failing that from
** the clock and addresses.  It is never zero. */
static uintptr_t os_secret(void) {
    uintptr_t k = 0;
#ifdef SYS_getrandom
    if (syscall(SYS_getrandom, &k, sizeof k, 0) != (long)sizeof k) k = 0;
#endif
    if (!k) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        k = ((uintptr_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull) ^ (uintptr_t)&k ^ (uintptr_t)getpid() << 32;
    }
    return k | 1;
}

_Atomic(uint16_t) pa_map[PA_MAP_ENTRIES];

void pa_os_init(void) { pa_g.key = os_secret(); }
