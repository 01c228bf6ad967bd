/*
** pool.h -- libpool: a size-class pool allocator with thread caches,
** first-class heaps, O(1) ownership and always-on statistics.
**
** Every function is thread-safe unless it says otherwise.  Failures return
** NULL (or -1) and set errno: ENOMEM for sizes that cannot be met (never a
** wrapped size), EINVAL for bad arguments.
*/
#ifndef POOL_H
#define POOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define POOL_API __attribute__((visibility("default")))
#define POOL_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
#define POOL_API
#define POOL_MALLOC_ATTR
#endif

#define POOL_VERSION "0.1.0"

/* Number of size classes; classes[i].size of the stats gives each one. */
#define POOL_NCLASSES 48
/* Largest block served from size-classed pages; above it blocks are mmap'd. */
#define POOL_MAX_CLASS_SIZE ((size_t)128 * 1024)
/* Every block is aligned to this. */
#define POOL_MIN_ALIGN 16

/* ---- process allocator: one implicit heap per thread ---- */
POOL_API POOL_MALLOC_ATTR void *pool_malloc(size_t n);
POOL_API POOL_MALLOC_ATTR void *pool_calloc(size_t count, size_t n);
POOL_API void *pool_realloc(void *p, size_t n);
/* Every free leaves errno as it was. */
POOL_API void pool_free(void *p);
/* Any power-of-two alignment; `n` need not be a multiple of `align`. */
POOL_API POOL_MALLOC_ATTR void *pool_aligned_alloc(size_t align, size_t n);
/* The POSIX and glibc aligned calls, with their edge rules (posix.c):
** posix_memalign returns EINVAL unless `align` is a power of two multiple
** of sizeof(void *), returns errors and leaves errno alone; memalign rounds
** a non-power-of-two alignment up (EINVAL only when that overflows);
** valloc aligns to the OS page; pvalloc also rounds the size up to whole
** pages (0 becomes one page). */
POOL_API int pool_posix_memalign(void **out, size_t align, size_t n);
POOL_API POOL_MALLOC_ATTR void *pool_memalign(size_t align, size_t n);
POOL_API POOL_MALLOC_ATTR void *pool_valloc(size_t n);
POOL_API POOL_MALLOC_ATTR void *pool_pvalloc(size_t n);
/* Bytes usable at `p` (>= the request); 0 for NULL.  `p` must be ours. */
POOL_API size_t pool_usable_size(const void *p);
/* 1 if `p` points into a live or free block of ours, 0 for any other
** pointer (another allocator's, the stack, NULL).  O(1); reads only memory
** libpool owns. */
POOL_API int pool_owns(const void *p);
/* For a binding that shares one pointer space with another allocator:
** if `p` is the start of a block libpool handed out, free it and return 1;
** otherwise (another allocator's pointer, one inside a pool block, NULL)
** touch nothing and return 0.  One lookup instead of pool_owns + pool_free. */
POOL_API int pool_free_block(void *p);
/* ---- libpool beneath another allocator ----
** A host that must go on serving blocks another allocator made (CPython's
** PyMemAllocatorEx is one) hands libpool that allocator as a
** pool_fallback_t.  The pool_fallback_* functions have its hooks' shape,
** ctx first (the ctx is the pool_fallback_t), so they can be installed
** directly in its place: new blocks come from the pool; a pointer that is
** not the start of a pool block (NULL aside) goes to the fallback's own
** realloc or free with the fallback's ctx.  The layout is PyMemAllocatorEx's. */
typedef struct pool_fallback {
    void *ctx;
    void *(*malloc)(void *ctx, size_t n);
    void *(*calloc)(void *ctx, size_t count, size_t n);
    void *(*realloc)(void *ctx, void *p, size_t n);
    void (*free)(void *ctx, void *p);
} pool_fallback_t;
POOL_API void *pool_fallback_malloc(void *fallback, size_t n);
POOL_API void *pool_fallback_calloc(void *fallback, size_t count, size_t n);
POOL_API void *pool_fallback_realloc(void *fallback, void *p, size_t n);
POOL_API void pool_fallback_free(void *fallback, void *p);
/* 1 if `p` is the start of a block libpool handed out (live or free), 0 for
** any other pointer, including one inside a pool block.  O(1); reads only
** memory libpool owns, so it is safe on another allocator's pointers. */
POOL_API int pool_is_block(const void *p);
/* Give every free page back to the OS now (madvise/munmap).  Returns the
** number of bytes released. */
POOL_API size_t pool_trim(void);
/* Cap on the bytes the process pool may have in use from the OS (pages
** holding blocks plus large blocks); 0 removes it.  Past it, allocation
** fails with ENOMEM.  Returns the previous limit. */
POOL_API size_t pool_set_limit(size_t bytes);
POOL_API size_t pool_get_limit(void);

/* ---- first-class heaps ---- */
typedef struct pool_heap_s pool_heap_t;

typedef struct pool_heap_options {
    /* Byte limit on live_bytes; 0 = none.  An allocation that would take
    ** live_bytes past it returns NULL with ENOMEM. */
    size_t limit;
    /* Debug checks: canaries after each block, poisoned free blocks. */
    int debug;
    /* The caller frees and reallocs with the size it asked for
    ** (pool_heap_free_sized, pool_heap_realloc_sized); live_bytes then
    ** counts requested bytes exactly.  Otherwise it counts usable bytes. */
    int sized;
    /* Name shown in reports; copied (first 31 bytes). */
    const char *name;
} pool_heap_options_t;

/* A heap is used by one thread at a time and takes no locks.  Any thread
** may free its blocks with pool_free(); such frees are deferred to the
** heap's pages through an atomic list.  NULL options means defaults. */
POOL_API pool_heap_t *pool_heap_new(const pool_heap_options_t *opts);
/* Releases every block of the heap at once, live or not. */
POOL_API void pool_heap_destroy(pool_heap_t *h);
POOL_API POOL_MALLOC_ATTR void *pool_heap_malloc(pool_heap_t *h, size_t n);
POOL_API POOL_MALLOC_ATTR void *pool_heap_calloc(pool_heap_t *h, size_t count, size_t n);
POOL_API void *pool_heap_realloc(pool_heap_t *h, void *p, size_t n);
POOL_API void pool_heap_free(pool_heap_t *h, void *p);
/* pool_heap_malloc that also counts the allocation under a caller's tag
** (0..POOL_NTAGS-1; others count as 0): the Lua binding counts objects by
** type this way.  Counts are cumulative; see pool_stats_t.tags. */
#define POOL_NTAGS 16
POOL_API POOL_MALLOC_ATTR void *pool_heap_malloc_tagged(pool_heap_t *h, size_t n, unsigned tag);
/* Trusts `size` (the size asked for when `p` was allocated) and skips the
** lookup of the block's size class. */
POOL_API void pool_heap_free_sized(pool_heap_t *h, void *p, size_t size);
/* realloc with the old size known; in place when `newsize` maps to the same
** size class.  A failed call leaves `p` valid. */
POOL_API void *pool_heap_realloc_sized(pool_heap_t *h, void *p, size_t oldsize, size_t newsize);
/* A lua_Alloc (Lua 5.4's contract) for a sized heap `ud` used by one
** thread: blocks it frees are kept on lists of the heap, one per 16-byte
** granule of the size, and served again by size, with no lookup; the
** heap's stats, limit and tags (osize of a new object) stay exact, a kept
** block counting as free.  A list keeps 64 KiB of blocks, more (up to
** 1 MiB) while the lists' growth stays under half of the heap's live
** bytes; the rest goes back to the pages.  Heaps that are not sized, or in
** debug mode, take the ordinary sized paths. */
POOL_API void *pool_heap_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
/* Give the blocks pool_heap_lua_alloc keeps back to their pages (so that
** trim can release them).  Returns how many. */
POOL_API size_t pool_heap_lua_flush(pool_heap_t *h);
POOL_API size_t pool_heap_set_limit(pool_heap_t *h, size_t bytes);
POOL_API size_t pool_heap_get_limit(const pool_heap_t *h);
/* The heap that owns block `p`, or NULL for the process pool or foreign. */
POOL_API pool_heap_t *pool_heap_of(const void *p);

/* ---- statistics ---- */
typedef struct pool_class_stats {
    size_t size;            /* block size of the class */
    size_t live_blocks;     /* blocks allocated and not freed */
    size_t free_blocks;     /* blocks in this class's pages not in use */
    size_t pages;           /* pages holding this class */
    uint64_t allocs;        /* cumulative */
    uint64_t frees;         /* cumulative */
} pool_class_stats_t;

typedef struct pool_stats {
    size_t live_bytes;      /* bytes of live blocks: requested bytes for
                            ** sized heaps, usable bytes otherwise */
    size_t peak_bytes;      /* highest live_bytes since start or reset */
    size_t reserved_bytes;  /* mapped from the OS (segments + large) */
    size_t committed_bytes; /* of those, in pages or large blocks in use */
    uint64_t allocs;
    uint64_t frees;
    uint64_t reallocs;
    size_t large_blocks;    /* live mmap'd blocks */
    size_t large_bytes;     /* their mapped size */
    uint64_t mmap_calls;
    uint64_t munmap_calls;
    uint64_t madvise_calls;
    uint64_t lock_acquires; /* of the global lock (spans, orphans, large
                            ** blocks, heaps, stats): none in steady state */
    size_t heaps;           /* live heaps, thread heaps included */
    uint64_t tags[POOL_NTAGS]; /* allocations by tag (pool_heap_malloc_tagged) */
    unsigned nclasses;
    pool_class_stats_t classes[POOL_NCLASSES];
    uint64_t large_alloc_bytes; /* cumulative: mapped bytes of the large blocks allocated */
} pool_stats_t;

/* Process-wide stats: every heap, every thread.  Returns 0, or -1/EINVAL. */
POOL_API int pool_stats(pool_stats_t *out);
POOL_API int pool_heap_stats(const pool_heap_t *h, pool_stats_t *out);
POOL_API void pool_reset_peak(void);
POOL_API void pool_heap_reset_peak(pool_heap_t *h);
/* Write a readable table / a JSON object for `st` into buf (like snprintf:
** returns the length it needs, writes at most len bytes, NUL-terminated). */
POOL_API size_t pool_stats_report(const pool_stats_t *st, char *buf, size_t len);
POOL_API size_t pool_stats_json(const pool_stats_t *st, char *buf, size_t len);
/* Process stats, as a report, to a stream. */
POOL_API void pool_print_stats(FILE *out);

/* The page map: one record per page (span of slices) a heap or the orphan
** list holds, for pictures of the pool: the pages in use, and the empty
** pages heaps keep cached for reuse (`cached`; no class's stats count
** those).  Fills at most `max` records and returns how many pages exist
** (call with max 0 to size the buffer). */
typedef struct pool_page_info {
    uintptr_t address;      /* first byte of the page's blocks */
    size_t bytes;           /* span of the page */
    int cls;                /* size class */
    unsigned block_size;
    unsigned capacity;      /* blocks the page can hold */
    unsigned used;          /* blocks allocated (remote frees not yet
                            ** collected still count) */
    unsigned segment;       /* index of the segment, in address order */
    unsigned owner;         /* 0: orphaned (its thread exited); else a heap id */
    unsigned cached;        /* 1: empty, in its heap's cache of empty pages
                            ** (given back after POOL_DECAY_MS idle) */
} pool_page_info_t;
POOL_API size_t pool_page_map(pool_page_info_t *out, size_t max);

/* Invariant checks, for tests and debugging: walk the calling thread's
** heap (every page list, every page's free list and counts, the page
** states of "Page states" in libpool/src/README.md) and, under the lock,
** the orphan lists and segments.  A broken invariant is reported in one
** line and aborts.  Returns the number of pages checked.  pool_heap_check
** does the same for a first-class heap (call it from the thread using it,
** or when no thread is). */
POOL_API long pool_check(void);
POOL_API long pool_heap_check(pool_heap_t *h);

/* Size class of a request (0..POOL_NCLASSES-1), or -1 if served as large. */
POOL_API int pool_size_class(size_t n);
POOL_API size_t pool_class_size(int cls);

#ifdef __cplusplus
}
#endif
#endif
