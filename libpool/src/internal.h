/*
** internal.h -- libpool's internal types, constants and inline helpers.
** Nothing here is part of the public API (see ../include/pool.h); the
** theory of operation is in README.md beside this file.
*/
#ifndef POOL_INTERNAL_H
#define POOL_INTERNAL_H

/* Only libpool's own sources may see its internals: a binding or a program
** uses pool.h (the builds of libpool -- CMake, setup.py, the fuzzer --
** define POOL_BUILDING_LIBPOOL). */
#ifndef POOL_BUILDING_LIBPOOL
#error "internal.h is private to libpool: include <pool.h> instead"
#endif

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pool.h"

#define PA_LIKELY(x)   __builtin_expect(!!(x), 1)
#define PA_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PA_NOINLINE    __attribute__((noinline))
#define PA_INLINE      static inline __attribute__((always_inline))
#define PA_NORETURN    __attribute__((noreturn))
#define PA_HIDDEN      __attribute__((visibility("hidden")))

/* ---- geometry ----
** A segment is a 4 MiB region aligned to 4 MiB, cut into 64 slices of
** 64 KiB.  Slice 0 holds the segment header; a page is a span of 1, 4 or 16
** slices holding blocks of one size class. */
#define PA_SEG_SHIFT      22
#define PA_SEG_SIZE       ((size_t)1 << PA_SEG_SHIFT)
#define PA_SEG_MASK       (PA_SEG_SIZE - 1)
#define PA_SLICE_SHIFT    16
#define PA_SLICE_SIZE     ((size_t)1 << PA_SLICE_SHIFT)
#define PA_SLICES         64
/* The OS page size, from the OS (os.c; sysconf, read once). */
#define PA_OS_PAGE        pa_os_page_size()
/* The last OS page of every span is a guard (PROT_NONE): an overflow past
** a page's last block, or an underflow below the first block of the page
** above it, faults.  Free slices that are not resident are PROT_NONE too. */
#define PA_GUARD          PA_OS_PAGE
/* Addresses we can own: the 47-bit user half of x86-64/aarch64. */
#define PA_ADDR_BITS      47
#define PA_MAP_ENTRIES    ((size_t)1 << (PA_ADDR_BITS - PA_SEG_SHIFT))

#define PA_NCLASSES       POOL_NCLASSES
#define PA_SMALL_MAX      1024            /* served by the direct table */
#define PA_DIRECT         (PA_SMALL_MAX / 16 + 1)
#define PA_MAX_CLASS      POOL_MAX_CLASS_SIZE
/* Emptied pages a heap keeps, in bytes of span, before the oldest go back
** to the segments (they also go once idle for the decay). */
#define PA_EMPTY_MAX      ((size_t)128 << 20)
/* Slow allocations between two looks at the clock for a heap's idle
** memory (pa_heap_beat). */
#define PA_BEAT_CALLS     64
/* Span lengths of pages: 1, 4 or 16 slices (pa_class_slices). */
#define PA_SPAN_KINDS     3

/* Segment-map entries (one uint16 per 4 MiB of address space). */
#define PA_MAP_NONE       0               /* not ours */
#define PA_MAP_SEGMENT    1               /* a segment of pages starts here */
#define PA_MAP_LARGE      2               /* large block, 2+k: k chunks past its start */
#define PA_MAP_MAXDIST    (UINT16_MAX - PA_MAP_LARGE)

/* Counters read by other threads while their single writer updates them.
** Plain accesses compile to one add; under TSan they are relaxed atomics,
** which is the same code on x86 but visible to the race detector. */
#if defined(__SANITIZE_THREAD__)
#define PA_CNT(T)          _Atomic(T)
#define PA_CNT_ADD(x, d)   atomic_store_explicit(&(x), atomic_load_explicit(&(x), memory_order_relaxed) + (d), memory_order_relaxed)
#define PA_CNT_GET(x)      atomic_load_explicit(&(x), memory_order_relaxed)
#define PA_CNT_SET(x, v)   atomic_store_explicit(&(x), (v), memory_order_relaxed)
#else
#define PA_CNT(T)          T
#define PA_CNT_ADD(x, d)   ((x) += (d))
#define PA_CNT_GET(x)      (*(volatile __typeof__(x) *)&(x))
#define PA_CNT_SET(x, v)   ((x) = (v))
#endif

/* A free block: the link is stored XOR-encoded with the process secret; the
** second word holds the secret itself while the block is free, which is how
** a double free is recognised without a search. */
typedef struct pa_block {
    uintptr_t next;
    uintptr_t freed;
} pa_block_t;

struct pa_heap;

/* The word a page's remote frees go through: the head of the blocks other
** threads freed (16-byte aligned) with the page's delivery state in the low
** two bits, so that one CAS both pushes a block and reads (or changes) the
** state.  See "Page states" in README.md. */
enum {
    PA_TF_NORMAL = 0, /* remote frees push onto the page's list */
    PA_TF_NOTIFY = 1, /* parked: the next remote free must tell the owner */
    PA_TF_BUSY   = 2, /* a remote freer is handing a block to the owner heap */
    PA_TF_MASK   = 3
};
#define PA_TF_BLOCK(tf) ((pa_block_t *)((tf) & ~(uintptr_t)PA_TF_MASK))
#define PA_TF_STATE(tf) ((unsigned)((tf) & PA_TF_MASK))

/* A page: the descriptor of a span of slices holding one size class.  The
** first cache line is the owner's fast path; the second is shared with
** threads that free into the page. */
typedef struct pa_page {
    pa_block_t *free;               /* local free list; ends at PA_END(page) */
    PA_CNT(uint32_t) used;          /* blocks out (remote frees not yet collected count) */
    uint32_t block_size;
    uint8_t *start;                 /* first block */
    _Atomic(const void *) fast;     /* owner's fast_key while the fast free path may be used */
    struct pa_class_count *count;   /* owner heap's counters of this class (fast paths) */
    uint64_t inv;                   /* inverse mod 2^64 of block_size's odd part: block-start test */
    PA_CNT(uint64_t) capacity;      /* blocks carved so far (read by remote frees) */
    uint32_t reserved;              /* blocks the span can hold */
    uint8_t cls;
    uint8_t debug;                  /* blocks carry canaries and poison */
    uint8_t in_full;                /* on the owner's full list (owner-only view) */
    uint8_t shift;                  /* trailing zero bits of block_size */
    uint16_t slices;                /* span length */
    uint16_t index;                 /* first slice */
    struct pa_page *next, *prev;    /* owner heap's list (or the orphan list) */
    uint32_t check_mark;            /* stamp of the last pa_heap_check walk */
    uint8_t cached;                 /* in its heap's empty cache (pool_page_map reads it) */
    uint64_t retired_ms;            /* when it entered its heap's empty cache */
    /* --- shared --- */
    _Alignas(64) _Atomic(uintptr_t) xthread_free; /* remote frees | PA_TF_* state */
    _Atomic(struct pa_heap *) owner;              /* NULL: orphaned or free */
} __attribute__((aligned(64))) pa_page_t;

#define PA_END(pg) ((pa_block_t *)(pg))

/* A segment header, at the start of slice 0.  A segment belongs to one heap,
** which alone takes spans from it (no global lock), or to none (its heap is
** gone; the next heap short of slices claims it).  Its slice bookkeeping
** is under its own lock, which the owner takes uncontended: other threads
** take it only to give back a span of a page they adopted, to purge, or to
** read (pool_page_map, pool_check). */
typedef struct pa_segment {
    pa_page_t *slice_page[PA_SLICES]; /* page of each slice; &pa_empty_page if free */
    /* --- under `lock` --- */
    uint64_t free_mask;               /* slices in no span */
    uint64_t dirty_mask;              /* free slices that may be resident */
    uint64_t young_mask;              /* of those, freed since young_since */
    uint64_t young_since;             /* ms clock: start of the current young window */
    uint64_t last_dirty;              /* ms clock: the last slice freed */
    _Atomic(uint32_t) lock;
    uint32_t id;
    /* --- changed under the global lock --- */
    _Atomic(struct pa_heap *) heap;   /* owner; NULL: abandoned */
    struct pa_segment *next, *prev;   /* pa_g.segments: every segment in use */
    struct pa_segment *hnext, *hprev; /* the owner's segments (read by the owner without the lock) */
    pa_page_t pages[PA_SLICES];
} pa_segment_t;

/* A large block's header, at the start of its own mapping. */
typedef struct pa_large {
    uintptr_t magic;                /* key ^ address: validates a free */
    size_t map_size;
    size_t offset;                  /* block = (char *)header + offset: the
                                    ** alignment, when that exceeds the header */
    size_t request;
    uint32_t debug;                 /* canary after the request; PA_LARGE_ZERO: malloc(0) */
    uint32_t reused;                /* from the cache: not zero-filled */
    struct pa_heap *heap;           /* set under the lock (pa_large_realloc compares it unlocked); NULL once its thread exits */
    struct pa_large *next, *prev;   /* global list, under the lock */
} pa_large_t;

typedef struct pa_page_list {
    pa_page_t *first, *last;
} pa_page_list_t;

typedef struct pa_class_count {
    PA_CNT(uint64_t) allocs;
    PA_CNT(uint64_t) frees;
} pa_class_count_t;

enum { PA_HEAP_THREAD = 1, PA_HEAP_USER = 2 };

/* sized.c: blocks a Lua state freed, of one granule (LIFO, plain links);
** how many it handed out; how many more it may take (-1 while a refused
** push is undone) and how many it may hold.  32 bytes, so that the fast path addresses the
** list of a size n as twice (n + 15) & ~15, with no shift. */
typedef struct pa_lua_list {
    pa_block_t *free;
    PA_CNT(uint64_t) pops;
    PA_CNT(int32_t) room;
    PA_CNT(int32_t) cap;
    uint32_t pad[2];
} pa_lua_list_t;
_Static_assert(sizeof(pa_lua_list_t) == 32, "pa_lua_list_t: the fast path scales by 2");

/* A heap: the pages of one thread (thread heaps) or of one first-class heap. */
typedef struct pa_heap {
    pa_page_t *direct[PA_DIRECT];   /* page to allocate from, by (n+15)/16 */
    pa_page_t *curr[PA_NCLASSES];   /* head of avail[c] or &pa_empty_page */
    pa_class_count_t count[PA_NCLASSES];
    pa_page_list_t avail[PA_NCLASSES];
    pa_page_list_t full;
    pa_page_list_t empty[PA_SPAN_KINDS]; /* emptied pages by span length, newest first */
    uint32_t nempty;
    uint32_t cache_carved;          /* cached medium pages that still hold their carved memory */
    uint32_t beat;                  /* slow allocations since the last pa_heap_beat */
    uint64_t beat_ms;               /* when pa_heap_beat last looked */
    size_t empty_bytes;
    /* Exact byte accounting of first-class heaps.  Live bytes are kept as
    ** headroom = high - live, where high = min(limit, peak): taking n bytes
    ** under the limit while updating the peak is then one subtract and one
    ** sign test (pa_heap_take, the Lua fast path). */
    PA_CNT(int64_t) headroom;
    PA_CNT(uint64_t) high;
    PA_CNT(uint64_t) peak;
    size_t limit;                   /* SIZE_MAX: none */
    PA_CNT(uint64_t) reallocs;
    PA_CNT(int64_t) large_blocks;
    PA_CNT(int64_t) large_bytes;
    PA_CNT(uint64_t) large_allocs;
    PA_CNT(uint64_t) large_alloc_bytes;
    PA_CNT(uint64_t) large_frees;
    PA_CNT(int64_t) class_pages[PA_NCLASSES];
    PA_CNT(int64_t) class_blocks[PA_NCLASSES];
    PA_CNT(int64_t) committed;      /* bytes of its spans */
    PA_CNT(uint64_t) tags[POOL_NTAGS];
    pa_segment_t *segs;             /* segments it owns (segment.c) */
    uint8_t kind, debug, sized, dead;
    uint8_t lua_open;
    /* What its pages' `fast` holds: a thread heap's thread pointer (the
    ** free fast path reads it in one instruction, with no TLS lookup), or
    ** a first-class heap itself.  A thread's pages leave it (orphaned,
    ** fast NULL) before the thread's pointer can be reused. */
    const void *fast_key;               /* sized.c: the Lua cache below is in use */
    uint32_t id;
    /* sized.c: the Lua lists, one per 16-byte granule of the size. */
    pa_lua_list_t lua[PA_DIRECT];
    size_t lua_grown;               /* bytes the lists' caps grew by */
    char name[32];
    struct pa_heap *next_heap, *prev_heap; /* global list of live heaps */
    /* Blocks other threads freed into this heap's parked pages (atomic
    ** stack; links encoded).  Each block is on it once, and still counts in
    ** its page's `used`, so its page cannot leave the heap meanwhile. */
    _Alignas(64) _Atomic(pa_block_t *) delayed;
} pa_heap_t;

struct pool_heap_s { pa_heap_t h; };

/* Process-wide state. */
typedef struct pa_global {
    pthread_mutex_t lock;           /* segments, spans, orphans, large list, heaps */
    _Atomic(int) state;             /* 0 none, 1 initialising, 2 ready */
    uintptr_t key;                  /* free-list secret */
    pa_segment_t *segments;         /* in-use segments, owned or abandoned */
    pa_segment_t *spare;            /* empty segments kept for reuse */
    unsigned nspare;
    uint32_t next_seg_id;
    pa_page_list_t orphans[PA_NCLASSES];
    int64_t orphan_pages[PA_NCLASSES];  /* written under the lock, read without it (__atomic) */
    int64_t orphan_blocks[PA_NCLASSES];
    pa_large_t *large;
    pa_heap_t *heaps;
    pa_heap_t *heap_free;           /* recycled heap structs (never unmapped) */
    uint32_t next_heap_id;
    int debug;                      /* POOL_DEBUG */
    unsigned decay_ms;
    size_t dirty_keep;              /* hysteresis: dirty bytes kept regardless of age */
    /* counters */
    _Atomic(int64_t) reserved;
    _Atomic(int64_t) committed;
    _Atomic(int64_t) dirty;
    _Atomic(uint64_t) purge_due_ms;  /* when a purge pass has something old; 0: nothing waits */
    _Atomic(uint64_t) mmaps, munmaps, madvises;
    uint64_t lock_acquires;         /* under the lock */
    _Atomic(uint64_t) peak;
    _Atomic(size_t) limit;          /* SIZE_MAX: none */
    /* counters of heaps that are gone */
    uint64_t dead_allocs[PA_NCLASSES], dead_frees[PA_NCLASSES];
    uint64_t dead_reallocs, dead_large_allocs, dead_large_frees, dead_large_alloc_bytes;
    uint64_t dead_tags[POOL_NTAGS];
    int64_t dead_live, dead_large_blocks, dead_large_bytes;
    _Atomic(uint64_t) loose_frees[PA_NCLASSES]; /* frees by threads without a heap */
    _Atomic(int64_t) loose_large_blocks, loose_large_bytes;
    _Atomic(uint64_t) loose_large_frees;
    pthread_key_t tkey;
} pa_global_t;

extern PA_HIDDEN pa_global_t pa_g;

/* How long memory kept for reuse (an emptied medium page, a cached large
** mapping) must have idled before a growing heap gives it up: a 32nd of
** the decay (3 ms by default).  A loop that reuses it faster keeps it
** resident; a buffer used once gives its memory back. */
PA_INLINE uint64_t pa_idle_wait_ms(void) { return pa_g.decay_ms / 32; }

/* The segment map: 2 bytes per 4 MiB of the 47-bit address space.  It is
** 64 MiB of zero-initialised .bss: only the pages that cover our segments
** are ever touched, and it exists before the first call into libpool. */
extern PA_HIDDEN _Atomic(uint16_t) pa_map[PA_MAP_ENTRIES];
extern PA_HIDDEN pa_page_t pa_empty_page;
extern PA_HIDDEN pa_heap_t pa_empty_heap;
extern PA_HIDDEN __thread pa_heap_t *pa_tls_heap;
/* This thread's fast_key (a thread heap's): the thread pointer. */
#define PA_THREAD_KEY() ((const void *)__builtin_thread_pointer())
extern PA_HIDDEN const uint32_t pa_class_size[PA_NCLASSES];
extern PA_HIDDEN const uint8_t pa_direct_class[PA_DIRECT];

/* ---- size classes (size.c) ---- */
/* Class of a request of n bytes, n <= PA_MAX_CLASS. */
PA_INLINE unsigned pa_class_of(size_t n) {
    if (n <= PA_SMALL_MAX) return pa_direct_class[(n + 15) >> 4];
    size_t m = n - 1;
    unsigned b = 63u - (unsigned)__builtin_clzll(m);       /* b >= 10 */
    return 8u + (b - 7u) * 4u + (unsigned)((m >> (b - 2u)) & 3u);
}
PA_HIDDEN unsigned pa_class_slices(unsigned cls);
/* Index of a span length (1, 4, 16 slices) in a heap's empty cache. */
PA_INLINE unsigned pa_span_kind(unsigned slices) { return slices == 1 ? 0 : slices == 4 ? 1 : 2; }

/* Live bytes of a first-class heap (exact). */
PA_INLINE int64_t pa_heap_live(const pa_heap_t *h) {
    return (int64_t)PA_CNT_GET(h->high) - PA_CNT_GET(h->headroom);
}

/* A first-class heap's live bytes fall by `bytes` (negative: rise, with
** no limit test: the caller undoes a credit). */
PA_INLINE void pa_heap_give(pa_heap_t *h, int64_t bytes) { PA_CNT_ADD(h->headroom, bytes); }

PA_HIDDEN bool pa_heap_take_slow(pa_heap_t *h, size_t add);
PA_HIDDEN void pa_heap_rebound(pa_heap_t *h, int64_t live);

/* Whether a first-class heap may take `add` more bytes; if so, take them
** (its exact live count and peak).  Cost: a subtract and a sign test,
** unless the take passes the limit or sets a new peak. */
PA_INLINE bool pa_heap_take(pa_heap_t *h, size_t add) {
    int64_t a = PA_CNT_GET(h->headroom) - (int64_t)add;
    PA_CNT_SET(h->headroom, a);
    return PA_LIKELY(a >= 0) || pa_heap_take_slow(h, add);
}

/* ---- default-mode checks ----
** -DPOOL_NO_CHECKS (CMake option POOL_NO_CHECKS) compiles out the free
** path's interior and double-free checks, the free marker and the link
** encoding.  It exists only to measure what they cost: such a build does
** not detect faults (tests/benchmarks/test_bench_hardening.py). */
#if defined(POOL_NO_CHECKS)
#define PA_CHECKS 0
#else
#define PA_CHECKS 1
#endif

/* ---- free-list encoding ---- */
PA_INLINE uintptr_t pa_encode(const void *p) { return PA_CHECKS ? (uintptr_t)p ^ pa_g.key : (uintptr_t)p; }
PA_INLINE pa_block_t *pa_decode(uintptr_t v) { return (pa_block_t *)(PA_CHECKS ? v ^ pa_g.key : v); }
/* A list entry that is not the page's end must lie in the page's segment:
** 0 < (b ^ page) < 2^22 is one compare (cost: xor, lea, cmp, branch). */
PA_INLINE bool pa_block_ok(const pa_block_t *b, const pa_page_t *pg) {
    return ((uintptr_t)b ^ (uintptr_t)pg) - 1u < PA_SEG_SIZE - 1u;
}

/* ---- segment map and ownership (os.c) ---- */
/* Cost: shift, compare, load (an address beyond 47 bits is no block). */
PA_INLINE unsigned pa_map_get(uintptr_t a) {
    uintptr_t i = a >> PA_SEG_SHIFT;
    if (PA_UNLIKELY(i >= PA_MAP_ENTRIES)) return PA_MAP_NONE;
    return atomic_load_explicit(&pa_map[i], memory_order_relaxed);
}
PA_INLINE pa_segment_t *pa_segment_of(const void *p) {
    return (pa_segment_t *)((uintptr_t)p & ~(uintptr_t)PA_SEG_MASK);
}
PA_INLINE pa_page_t *pa_page_of(const void *p) {
    return pa_segment_of(p)->slice_page[((uintptr_t)p >> PA_SLICE_SHIFT) & (PA_SLICES - 1)];
}
/* p is the start of a carved block: its offset from the first block is
** q * block_size with q below the capacity.  With block_size = d * 2^k, d
** odd: off * inverse(d) mod 2^64, rotated right by k, is q when off is such
** a multiple, and something at least 2^64 / block_size otherwise (the low
** bits a rotation moves to the top are not all zero, or off * inverse(d) is
** not q * 2^k for a small q).  So one compare covers a p inside a block,
** past the carved blocks and below the first (the offset wraps): exact for
** every 64-bit offset (Granlund and Montgomery, "Division by invariant
** integers using multiplication", 1994, section 9).  Cost: a subtract, a
** multiply, a rotate, a compare; no division. */
PA_INLINE bool pa_block_start(const pa_page_t *pg, const void *p) {
    uint64_t off = (uint64_t)((const uint8_t *)p - pg->start) * pg->inv;
    unsigned k = pg->shift;
    return ((off >> k) | (off << (-k & 63))) < pg->capacity;   /* a plain read: cmp folds it */
}

PA_HIDDEN pa_large_t *pa_large_header(const void *p, unsigned entry);
/* Whether p is the start of a block we handed out (live or free), reading
** only memory we own: pool_owns() is true anywhere inside a block. */
PA_INLINE bool pa_is_block(const void *p) {
    unsigned e = pa_map_get((uintptr_t)p);
    if (PA_LIKELY(e == PA_MAP_SEGMENT)) {
        const pa_page_t *pg = pa_page_of(p);
        return pg != &pa_empty_page && pa_block_start(pg, p);
    }
    if (e == PA_MAP_NONE) return false;
    const pa_large_t *lg = pa_large_header(p, e);
    return (uintptr_t)p == (uintptr_t)lg + lg->offset;
}

PA_HIDDEN void *pa_os_map(size_t size, size_t align);
PA_HIDDEN void pa_os_unmap(void *p, size_t size);
PA_HIDDEN void pa_os_purge(void *p, size_t size);
PA_HIDDEN void pa_os_decommit(void *p, size_t size);
PA_HIDDEN bool pa_os_protect(void *p, size_t size, bool access);
PA_HIDDEN void pa_map_set(uintptr_t start, size_t size, unsigned kind);
PA_HIDDEN uint64_t pa_clock_ms(void);
PA_HIDDEN void pa_os_init(void);
PA_HIDDEN size_t pa_os_page_size(void);
PA_HIDDEN void *pa_os_remap(void *p, size_t old_size, size_t new_size, size_t align);

/* ---- faults (fault.c) ---- */
PA_HIDDEN PA_NORETURN void pa_fault(const char *what, const void *p, size_t size);

/* ---- invariants (check.c) ----
** Levels, as in mimalloc: PA_CHECK_LEVEL 0 (release) checks nothing
** beyond the default-mode fault checks; 1 (debug and sanitizer builds)
** adds the cheap assertions of each state transition; 2 (CMake
** -DPOOL_CHECK_LEVEL=2) also walks the whole heap with pa_heap_check at
** every page acquire and retire.  pool_check() runs the walk on request in
** every build. */
#ifndef PA_CHECK_LEVEL
#ifdef NDEBUG
#define PA_CHECK_LEVEL 0
#else
#define PA_CHECK_LEVEL 1
#endif
#endif
PA_HIDDEN PA_NORETURN void pa_assert_fail(const char *expr, const char *file, int line);
#define PA_ASSERT(c) ((PA_CHECK_LEVEL >= 1 && PA_UNLIKELY(!(c))) ? pa_assert_fail(#c, __FILE__, __LINE__) : (void)0)
#define PA_EXPENSIVE(h) ((PA_CHECK_LEVEL >= 2) ? (void)pa_heap_check(h) : (void)0)
PA_HIDDEN size_t pa_page_check(const pa_page_t *pg);
PA_HIDDEN size_t pa_heap_check(pa_heap_t *h);

/* ---- global lock and init (heap.c) ---- */
PA_HIDDEN void pa_init_slow(void);
PA_INLINE void pa_init(void) {
    if (PA_UNLIKELY(atomic_load_explicit(&pa_g.state, memory_order_acquire) != 2)) pa_init_slow();
}
PA_HIDDEN void pa_lock(void);
PA_HIDDEN void pa_unlock(void);

/* ---- segments and spans (segment.c) ----
** Spans: without the global lock (a segment's own lock).  Purges, segment
** drops and abandons: with it. */
PA_HIDDEN pa_page_t *pa_span_alloc(pa_heap_t *h, unsigned slices);
PA_HIDDEN void pa_span_free(pa_page_t *pg, bool idle);
PA_HIDDEN size_t pa_purge(pa_heap_t *h, bool all);
PA_HIDDEN void pa_purge_by(uint64_t due);
PA_HIDDEN void pa_purge_tick(pa_heap_t *h, uint64_t now);
PA_HIDDEN void pa_segments_abandon(pa_heap_t *h);
PA_HIDDEN void pa_segment_lock(pa_segment_t *s);
PA_HIDDEN void pa_segment_unlock(pa_segment_t *s);
PA_HIDDEN void pa_segments_lock_all(void);
PA_HIDDEN void pa_segments_unlock_all(bool child);
PA_HIDDEN bool pa_large_cache_waiting(void);
PA_HIDDEN void pa_large_cache_on_growth(void);
PA_HIDDEN bool pa_commit_ok(size_t bytes);

/* ---- pages (page.c) ---- */
PA_HIDDEN void pa_page_init(pa_page_t *pg, unsigned cls);
PA_HIDDEN bool pa_page_extend(pa_page_t *pg);
PA_HIDDEN uint32_t pa_page_collect(pa_page_t *pg);
PA_HIDDEN bool pa_page_to_full(pa_heap_t *h, pa_page_t *pg);
PA_HIDDEN void pa_page_settle(pa_page_t *pg);
PA_HIDDEN void pa_page_unfull(pa_heap_t *h, pa_page_t *pg);
PA_HIDDEN void pa_page_retire(pa_heap_t *h, pa_page_t *pg);
/* An emptied page that is the only one of its class stays where it is, so
** that a malloc/free cycle does not thrash.  Tested inline where a page
** empties, before any call to pa_page_retire: three loads and compares. */
PA_INLINE bool pa_page_sole(const pa_heap_t *h, const pa_page_t *pg) {
    return !pg->in_full && h->avail[pg->cls].first == pg && !pg->next;
}
PA_HIDDEN void pa_page_release(pa_heap_t *h, pa_page_t *pg);
/* A page of a medium span length (4 or 16 slices) that still holds the
** memory of the blocks it carved: in a heap's cache, what cache_carved
** counts and pa_heap_purge_idle gives back. */
PA_INLINE bool pa_page_carved_medium(const pa_page_t *pg) {
    return pg->slices > 1 && PA_CNT_GET(pg->capacity) != 0;
}
PA_HIDDEN void pa_page_shed(pa_heap_t *h, pa_page_t *pg);
PA_HIDDEN pa_page_t *pa_heap_take_empty(pa_heap_t *h, unsigned cls, unsigned slices);
PA_HIDDEN void pa_heap_drop_empty(pa_heap_t *h);
PA_HIDDEN void pa_heap_make_room(pa_heap_t *h, size_t bytes);
PA_HIDDEN void pa_heap_trim_empty(pa_heap_t *h, uint64_t now, unsigned keep_kind);
PA_HIDDEN void pa_heap_trim_miss(pa_heap_t *h, uint64_t now, unsigned kind);
PA_HIDDEN void pa_heap_purge_idle(pa_heap_t *h, uint64_t now);
PA_HIDDEN void pa_heap_beat(pa_heap_t *h);
PA_HIDDEN void pa_heap_drain_delayed(pa_heap_t *h);
PA_HIDDEN void pa_heap_quiesce(pa_heap_t *h);
PA_HIDDEN void pa_list_push(pa_page_list_t *l, pa_page_t *pg);
PA_HIDDEN void pa_list_append(pa_page_list_t *l, pa_page_t *pg);
PA_HIDDEN void pa_list_remove(pa_page_list_t *l, pa_page_t *pg);
PA_HIDDEN void pa_heap_set_curr(pa_heap_t *h, unsigned cls);
PA_HIDDEN void pa_heap_point(pa_heap_t *h, unsigned cls, pa_page_t *pg);

/* ---- heaps (heap.c) ---- */
PA_HIDDEN void pa_lua_counts(const pa_heap_t *h, uint64_t allocs[PA_NCLASSES], uint64_t frees[PA_NCLASSES]);
PA_HIDDEN void pa_lua_drop(pa_heap_t *h);
PA_HIDDEN pa_heap_t *pa_heap_thread(void);
PA_HIDDEN pa_heap_t *pa_heap_thread_for_free(void);
PA_HIDDEN pa_page_t *pa_heap_acquire_page(pa_heap_t *h, unsigned cls);
PA_HIDDEN void pa_heap_sample_peak(pa_heap_t *h);

/* ---- allocation (alloc.c, free.c, large.c) ---- */
PA_HIDDEN void *pa_malloc_slow(size_t n);
PA_HIDDEN void *pa_heap_alloc(pa_heap_t *h, size_t n, size_t align);
PA_HIDDEN void pa_free_slow(pa_heap_t *h, void *p, size_t size);
PA_HIDDEN void pa_free_local(pa_heap_t *h, pa_page_t *pg, pa_block_t *b);
PA_HIDDEN void *pa_large_alloc(pa_heap_t *h, size_t n, size_t align);
PA_HIDDEN void pa_large_free(pa_heap_t *h, pa_large_t *lg);
PA_HIDDEN void pa_large_release_locked(pa_large_t *lg);
PA_HIDDEN size_t pa_large_cache_purge(bool all);
PA_HIDDEN void *pa_large_realloc(pa_heap_t *h, pa_large_t *lg, size_t n);
PA_HIDDEN size_t pa_large_usable(const pa_large_t *lg);

/* ---- debug mode (debug.c) ---- */
#define PA_LARGE_ZERO  2      /* a debug malloc(0): its block is a PROT_NONE page */
#define PA_DEBUG_EXTRA 16
#define PA_POISON      0xDF
#define PA_CANARY      0xCB
PA_HIDDEN void pa_debug_on_alloc(pa_page_t *pg, void *p, size_t n);
PA_HIDDEN void pa_debug_on_free(pa_page_t *pg, void *p);
PA_HIDDEN size_t pa_debug_request(const pa_page_t *pg, const void *p);
PA_HIDDEN void *pa_debug_quarantine(void *p);
PA_HIDDEN void *pa_debug_quarantine_take(void);
PA_HIDDEN void pa_quarantine_flush(pa_heap_t *h);

/* ---- tooling hooks: valgrind client requests and ASan poisoning ---- */
#if defined(POOL_VALGRIND)
#include <valgrind/memcheck.h>
#define PA_TOOL_ALLOC(p, n, zero) VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, (zero))
#define PA_TOOL_FREE(p)           VALGRIND_FREELIKE_BLOCK((p), 0)
#define PA_TOOL_RESIZE(p, o, n)   VALGRIND_RESIZEINPLACE_BLOCK((p), (o), (n), 0)
#define PA_TOOL_INTERNAL(p, n)    VALGRIND_MAKE_MEM_DEFINED((p), (n))
#define PA_TOOL_NOACCESS(p, n)    VALGRIND_MAKE_MEM_NOACCESS((p), (n))
#define PA_TOOL_UNMAP(p, n)       ((void)0) /* valgrind forgets unmapped ranges itself */
#elif defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define PA_TOOL_ALLOC(p, n, zero) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define PA_TOOL_FREE(p)           ((void)0)
#define PA_TOOL_RESIZE(p, o, n)   ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define PA_TOOL_INTERNAL(p, n)    ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define PA_TOOL_NOACCESS(p, n)    ASAN_POISON_MEMORY_REGION((p), (n))
/* ASan keeps poison in shadow memory across munmap: a later mmap of the
** same addresses would start out poisoned. */
#define PA_TOOL_UNMAP(p, n)       ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define PA_TOOL_ALLOC(p, n, zero) ((void)0)
#define PA_TOOL_FREE(p)           ((void)0)
#define PA_TOOL_RESIZE(p, o, n)   ((void)0)
#define PA_TOOL_INTERNAL(p, n)    ((void)0)
#define PA_TOOL_NOACCESS(p, n)    ((void)0)
#define PA_TOOL_UNMAP(p, n)       ((void)0)
#endif

#endif
