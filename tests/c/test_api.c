/* test_api.c -- libpool's API edge cases: standard malloc semantics, errors,
** alignment, ownership, large blocks and exact single-thread statistics. */
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

#include "check.h"

static int global_var;

static void test_malloc_zero_unique(void) {
    void *a = pool_malloc(0), *b = pool_malloc(0);
    CHECK(a && b && a != b);
    CHECK(pool_usable_size(a) >= 1);
    pool_free(a);
    pool_free(b);
    pool_free(NULL); /* does nothing */
}

static void test_errors(void) {
    errno = 0;
    CHECK(pool_malloc(SIZE_MAX) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(pool_malloc(SIZE_MAX - 4096) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(pool_calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(pool_calloc((size_t)1 << 33, (size_t)1 << 33) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(pool_aligned_alloc(3, 16) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(pool_aligned_alloc(0, 16) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(pool_aligned_alloc(64, SIZE_MAX - 10) == NULL && errno == ENOMEM);
    /* A failed realloc leaves the block valid and unchanged. */
    char *p = pool_malloc(100);
    memset(p, 'x', 100);
    errno = 0;
    CHECK(pool_realloc(p, SIZE_MAX - 100) == NULL && errno == ENOMEM);
    for (int i = 0; i < 100; i++) CHECK(p[i] == 'x');
    pool_free(p);
    /* A block in the large range, too. */
    p = pool_malloc(1 << 20);
    memset(p, 'y', 1 << 20);
    CHECK(pool_realloc(p, SIZE_MAX / 2) == NULL && errno == ENOMEM);
    CHECK(p[0] == 'y' && p[(1 << 20) - 1] == 'y');
    pool_free(p);
}

static void test_realloc_semantics(void) {
    char *p = pool_realloc(NULL, 40); /* realloc(NULL, n) is malloc(n) */
    CHECK(p != NULL);
    for (int i = 0; i < 40; i++) p[i] = (char)i;
    /* Same class: stays in place. */
    CHECK(pool_realloc(p, 48) == p);
    /* A shrink that leaves at most a quarter of the block unused stays in
    ** place (36 of 48 bytes); one that would leave more moves to the
    ** request's own class (20 bytes: a 32-byte block). */
    CHECK(pool_realloc(p, 36) == p && pool_usable_size(p) == 48);
    char *q = pool_realloc(p, 20);
    CHECK(q != NULL && q != p && pool_usable_size(q) == 32);
    for (int i = 0; i < 20; i++) CHECK(q[i] == (char)i);
    p = pool_realloc(q, 40);
    CHECK(p != NULL);
    for (int i = 0; i < 40; i++) p[i] = (char)i;
    /* Grows through small, medium and large sizes keeping contents. */
    size_t sizes[] = { 100, 1000, 5000, 70000, 200000, 3 << 20, 20 << 20, 5 << 20, 300000, 64, 17 };
    size_t have = 40;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        p = pool_realloc(p, n);
        CHECK(p != NULL);
        CHECK(((uintptr_t)p & 15) == 0);
        CHECK(pool_usable_size(p) >= n);
        size_t keep = have < n ? have : n;
        for (size_t i = 0; i < keep; i++) CHECK(p[i] == (char)i);
        for (size_t i = 0; i < n; i++) p[i] = (char)i;
        have = n;
    }
    pool_free(p);
}

static void test_calloc_zero(void) {
    for (int round = 0; round < 3; round++) {
        size_t sizes[] = { 1, 16, 100, 1024, 4000, 65536, 200000 };
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            unsigned char *p = pool_calloc(1, sizes[k]);
            CHECK(p != NULL);
            for (size_t i = 0; i < sizes[k]; i++) CHECK(p[i] == 0);
            memset(p, 0xAB, sizes[k]); /* dirty it for the next round */
            pool_free(p);
        }
    }
}

static void test_aligned(void) {
    for (size_t align = 1; align <= ((size_t)16 << 20); align <<= 1) {
        size_t ns[] = { 0, 1, align / 2 + 1, align, align + 1, 3 * align + 5 };
        for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
            size_t n = ns[k];
            if (n > ((size_t)64 << 20)) continue;
            char *p = pool_aligned_alloc(align, n);
            CHECK(p != NULL);
            CHECK(((uintptr_t)p % (align < 16 ? 16 : align)) == 0);
            CHECK(pool_usable_size(p) >= n);
            CHECK(pool_owns(p));
            memset(p, 7, n);
            pool_free(p);
        }
    }
}

static void test_owns(void) {
    int local;
    void *sys = malloc(64);
    void *map = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(!pool_owns(NULL));
    CHECK(!pool_owns(&local));
    CHECK(!pool_owns(&global_var));
    CHECK(!pool_owns(sys));
    CHECK(!pool_owns(map));
    CHECK(!pool_owns((void *)(uintptr_t)-4096));
    CHECK(!pool_owns((void *)((uintptr_t)1 << 50)));
    void *small = pool_malloc(24), *large = pool_malloc(1 << 22);
    CHECK(pool_owns(small) && pool_owns(large));
    CHECK(pool_owns((char *)large + (1 << 22) - 1));
    free(sys);
    munmap(map, 1 << 16);
    pool_free(small);
    pool_free(large);
    CHECK(!pool_owns(large)); /* unmapped: no longer ours */
}

/* pool_free_block frees exactly the starts of our blocks (small, large,
** another thread's) and leaves every other pointer alone. */
static void *alloc_96(void *arg) { (void)arg; return pool_malloc(96); }

static void test_free_block(void) {
    int local;
    void *sys = malloc(64);
    pool_stats_t a, b;
    CHECK_EQ(pool_free_block(NULL), 0);
    CHECK_EQ(pool_free_block(&local), 0);
    CHECK_EQ(pool_free_block(&global_var), 0);
    CHECK_EQ(pool_free_block(sys), 0);
    CHECK_EQ(pool_free_block((void *)((uintptr_t)1 << 50)), 0);
    char *small = pool_malloc(48), *large = pool_malloc(300000);
    memset(small, 7, 48);
    pool_stats(&a);
    CHECK_EQ(pool_free_block(small + 16), 0);       /* interior: not a block start */
    CHECK_EQ(pool_free_block(large + 4096), 0);
    pool_stats(&b);
    CHECK_EQ(b.frees, a.frees);
    CHECK_EQ(b.live_bytes, a.live_bytes);
    CHECK(small[47] == 7);
    CHECK_EQ(pool_free_block(small), 1);
    CHECK_EQ(pool_free_block(large), 1);
    pool_stats(&b);
    CHECK_EQ(b.frees, a.frees + 2);
    CHECK_EQ(b.large_blocks, a.large_blocks - 1);
    pthread_t t;
    void *other;
    CHECK(pthread_create(&t, NULL, alloc_96, NULL) == 0 && pthread_join(t, &other) == 0 && other);
    CHECK_EQ(pool_free_block(other), 1);            /* a block of a page this thread does not own */
    free(sys);
}

/* free leaves errno alone, on every path: the fast one, an emptied page,
** a large block (munmap), another thread's block, NULL. */
static void test_free_keeps_errno(void) {
    void *many[4096];
    for (int i = 0; i < 4096; i++) many[i] = pool_malloc(2048);  /* pages fill, then empty */
    void *large = pool_malloc(1 << 20);
    pthread_t t;
    void *other;
    CHECK(pthread_create(&t, NULL, alloc_96, NULL) == 0 && pthread_join(t, &other) == 0 && other);
    errno = 4321;
    for (int i = 0; i < 4096; i++) pool_free(many[i]);
    pool_free(large);
    pool_free(other);
    pool_free(NULL);
    CHECK_EQ(errno, 4321);
}

/* Freed large mappings wait in a cache for the next large request that
** fits: not ours in between, PROT_NONE, moved to a fresh address when
** reused (one new range, no copy: the old address stays unmapped), zeroed
** again by calloc, cut to the request, dropped at a miss, released by trim
** and by the decay. */
static void test_large_cache(void) {
    pool_stats_t a, b, m;
    pool_trim();
    CHECK(pool_stats(&a) == 0);
    char *p = pool_malloc(1 << 20);
    memset(p, 0xAB, 1 << 20);
    CHECK(pool_stats(&m) == 0 && m.mmap_calls > a.mmap_calls);   /* (aligning may unmap a little) */
    pool_free(p);
    CHECK(!pool_owns(p));
    CHECK(pool_stats(&b) == 0);
    CHECK_EQ(b.munmap_calls, m.munmap_calls);
    CHECK_EQ(b.committed_bytes, a.committed_bytes);
    CHECK(b.reserved_bytes >= a.reserved_bytes + (1 << 20));
    char *q = pool_calloc(1, 1 << 20);               /* the same pages, moved, zeroed */
    CHECK(q != p && pool_owns(q) && !pool_owns(p));
    for (size_t i = 0; i < 1 << 20; i += 512) CHECK(q[i] == 0);
    CHECK(q[(1 << 20) - 1] == 0);
    CHECK(pool_stats(&b) == 0 && b.mmap_calls == m.mmap_calls + 1);
    CHECK_EQ(b.reserved_bytes, m.reserved_bytes);
    pool_free(q);
    /* A smaller request takes the head of the cached mapping; the tail is unmapped. */
    CHECK(pool_stats(&b) == 0);
    char *small = pool_malloc(300 << 10);
    CHECK(small != q && pool_owns(small) && !pool_owns(q));
    CHECK(pool_stats(&m) == 0 && m.mmap_calls == b.mmap_calls + 1 && m.munmap_calls >= b.munmap_calls + 1);
    CHECK_EQ(m.reserved_bytes, b.reserved_bytes - ((1 << 20) - (300 << 10)));
    pool_free(small);
    /* A bigger one misses: the outgrown entry goes at once, beside a fresh mapping. */
    CHECK(pool_stats(&b) == 0);
    char *r = pool_malloc(1 << 20);
    CHECK(pool_stats(&m) == 0 && m.mmap_calls == b.mmap_calls + 1);
    CHECK_EQ(m.reserved_bytes, b.reserved_bytes - ((300 << 10) + 4096) + ((1 << 20) + 4096));
    pool_free(r);
    CHECK(pool_trim() >= (1 << 20));
    CHECK(pool_stats(&m) == 0 && m.reserved_bytes <= a.reserved_bytes);
    /* The decay: an entry older than POOL_DECAY_MS (100 ms) goes at the next large free. */
    char *keep = pool_malloc(2 << 20);
    pool_free(pool_malloc(1 << 20));
    struct timespec ts = { 0, 150 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    CHECK(pool_stats(&m) == 0);
    pool_free(keep);
    CHECK(pool_stats(&b) == 0 && b.munmap_calls == m.munmap_calls + 1);
    CHECK(b.reserved_bytes == m.reserved_bytes - ((1 << 20) + 4096));   /* header page + 1 MiB */
    pool_trim();
}

static void test_size_classes(void) {
    size_t prev = 0;
    for (int c = 0; c < POOL_NCLASSES; c++) {
        size_t s = pool_class_size(c);
        CHECK(s % 16 == 0 && s > prev);
        /* Worst case: a request of prev+1 bytes lands in this class. */
        if (prev >= 64) CHECK((double)(s - (prev + 1)) / (double)s <= 0.25);
        CHECK(pool_size_class(s) == c);
        CHECK(pool_size_class(prev + 1) == c);
        prev = s;
    }
    CHECK(prev >= 32 * 1024);
    CHECK(prev == POOL_MAX_CLASS_SIZE);
    CHECK(pool_size_class(POOL_MAX_CLASS_SIZE + 1) == -1);
    errno = 0;
    CHECK(pool_class_size(POOL_NCLASSES) == 0 && errno == EINVAL);
}

/* Counts are exact on one thread: a burst of 1000 blocks of one class. */
static void test_stats_exact(void) {
    pool_stats_t a, b, c;
    pool_trim();    /* no cached large mapping: the big block below is mapped */
    CHECK(pool_stats(&a) == 0);
    void *ps[1000];
    for (int i = 0; i < 1000; i++) ps[i] = pool_malloc(200); /* class 224 */
    void *big = pool_malloc(1 << 20);
    CHECK(pool_stats(&b) == 0);
    int cls = pool_size_class(200);
    CHECK_EQ(b.classes[cls].allocs - a.classes[cls].allocs, 1000);
    CHECK_EQ(b.classes[cls].live_blocks - a.classes[cls].live_blocks, 1000);
    CHECK_EQ(b.large_blocks - a.large_blocks, 1);
    CHECK_EQ((long long)b.live_bytes - (long long)a.live_bytes, 1000 * 224 + (long long)pool_usable_size(big));
    CHECK(b.peak_bytes >= b.live_bytes);
    CHECK(b.reserved_bytes >= b.committed_bytes && b.committed_bytes >= b.live_bytes);
    CHECK(b.mmap_calls > a.mmap_calls);
    for (int i = 0; i < 1000; i++) pool_free(ps[i]);
    pool_free(big);
    CHECK(pool_stats(&c) == 0);
    CHECK_EQ(c.classes[cls].frees - a.classes[cls].frees, 1000);
    CHECK_EQ(c.classes[cls].live_blocks, a.classes[cls].live_blocks);
    CHECK_EQ(c.live_bytes, a.live_bytes);
    CHECK_EQ(c.large_blocks, a.large_blocks);
    CHECK(c.committed_bytes <= b.committed_bytes - (1 << 20));
    CHECK(c.peak_bytes >= b.live_bytes);
    char buf[16384];
    size_t n = pool_stats_report(&c, buf, sizeof buf);
    CHECK(n > 0 && n < sizeof buf && strstr(buf, "live_bytes") && strstr(buf, "  224 ") != NULL);
    n = pool_stats_json(&c, buf, sizeof buf);
    CHECK(n > 0 && n < sizeof buf && buf[0] == '{' && buf[n - 1] == '}' && strstr(buf, "\"classes\": ["));
    /* Too small a buffer: truncated, NUL-terminated, needed length returned. */
    char tiny[8];
    CHECK(pool_stats_json(&c, tiny, sizeof tiny) == n && strlen(tiny) == 7);
    CHECK(pool_stats(NULL) == -1 && errno == EINVAL);
    /* Peak resets to what is live. */
    pool_reset_peak();
    CHECK(pool_stats(&c) == 0 && c.peak_bytes == c.live_bytes);
}

/* With 100 blocks of 3 KiB live: the map lists their pages, with their owner. */
static void test_page_map_live(void) {
    size_t n = pool_page_map(NULL, 0);
    CHECK(n > 0);
    pool_page_info_t *pages = calloc(n, sizeof *pages);
    CHECK(pool_page_map(pages, n) == n);
    unsigned used = 0;
    int cls = pool_size_class(3000);
    for (size_t i = 0; i < n; i++)
        if (pages[i].cls == cls) {
            CHECK(pages[i].block_size == 3072 && pages[i].used <= pages[i].capacity && pages[i].owner != 0);
            used += pages[i].used;
        }
    CHECK_EQ(used, 100);
    free(pages);
}

/* The map agrees with the stats class by class once the pages it lists as
** cached (empty, kept by the heap for reuse) are set apart: with 100 blocks
** of 3 KiB (20 a page) freed in order, the first four pages to empty are
** cached and the fifth stays, the class's only page.  The cache gives pages
** back after POOL_DECAY_MS (100 ms) idle, timed with a coarse clock, so the
** count of cached pages is asserted only when the frees and the map took
** less than 80 ms. */
static void test_page_map_cached(void) {
    void *ps[100];
    for (int i = 0; i < 100; i++) ps[i] = pool_malloc(3000);
    test_page_map_live();
    pool_trim();                                  /* no cached page before */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 100; i++) pool_free(ps[i]);
    static pool_page_info_t pages[4096];
    pool_stats_t st;
    size_t n = pool_page_map(pages, 4096);
    CHECK(pool_stats(&st) == 0 && n <= 4096);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    size_t held[POOL_NCLASSES] = {0}, used[POOL_NCLASSES] = {0}, cached = 0;
    int cls = pool_size_class(3000);
    for (size_t i = 0; i < n; i++) {
        CHECK(pages[i].cls >= 0 && pages[i].cls < POOL_NCLASSES && pages[i].cached <= 1);
        if (pages[i].cached) {
            CHECK(pages[i].used == 0 && pages[i].owner != 0);
            cached += pages[i].cls == cls;
        } else {
            held[pages[i].cls]++;
            used[pages[i].cls] += pages[i].used;
        }
    }
    for (int c = 0; c < POOL_NCLASSES; c++) {
        CHECK_EQ(held[c], st.classes[c].pages);
        CHECK_EQ(used[c], st.classes[c].live_blocks);
    }
    CHECK_EQ(st.classes[cls].pages, 1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (ms < 80) CHECK_EQ(cached, 4);
    pool_trim();                                  /* the cache and the empty page go back */
    n = pool_page_map(pages, 4096);
    for (size_t i = 0; i < n; i++) CHECK(!pages[i].cached && pages[i].cls != cls);
}

/* The page record of the page holding p. */
static pool_page_info_t page_holding(const void *p) {
    static pool_page_info_t pages[4096];
    size_t n = pool_page_map(pages, 4096);
    CHECK(n <= 4096);
    for (size_t i = 0; i < n; i++)
        if ((uintptr_t)p >= pages[i].address && (uintptr_t)p < pages[i].address + pages[i].bytes) return pages[i];
    CHECK(!"no page holds the block");
    return pages[0];
}

/* The block-start test (a multiply by an inverse and a rotate, no
** division) against every offset of a block of every class: only the
** start, of this block and of its carved neighbour, is a block.  Along the
** page, the block starts are the carved blocks, a prefix of the page's
** capacity; the blocks not carved yet are not blocks. */
static void test_block_starts_every_class(void) {
    static pool_stats_t st;
    CHECK(pool_stats(&st) == 0 && st.nclasses > 40);
    unsigned partly_carved = 0;
    for (unsigned c = 0; c < st.nclasses; c++) {
        size_t bs = st.classes[c].size;
        char *a = pool_malloc(bs), *b = pool_malloc(bs);
        CHECK(a && b && pool_usable_size(a) == bs);
        for (size_t off = 1; off < bs; off++) CHECK_EQ(pool_free_block(a + off), 0);
        CHECK_EQ(pool_free_block(a - 1), 0);
        pool_page_info_t pg = page_holding(a);
        CHECK(pg.block_size == bs && pg.capacity >= 7);
        unsigned carved = 0;
        while (carved < pg.capacity && pool_is_block((char *)pg.address + carved * bs)) carved++;
        CHECK(carved >= 2);
        partly_carved += carved < pg.capacity;
        for (unsigned k = carved; k < pg.capacity; k++) {
            CHECK(!pool_is_block((char *)pg.address + k * bs));
            CHECK(!pool_is_block((char *)pg.address + k * bs + 16));
        }
        CHECK(!pool_is_block((char *)pg.address + (size_t)pg.capacity * bs));
        CHECK_EQ(pool_free_block(b), 1);
        CHECK_EQ(pool_free_block(a), 1);
    }
    CHECK(partly_carved >= 8);      /* carving is lazy: the classes over 1 KiB carve a few blocks at a time */
}

/* A fallback allocator that records what reaches it. */
struct fb_log { int frees, reallocs; void *last; };

static void *fb_realloc(void *ctx, void *p, size_t n) {
    struct fb_log *log = ctx;
    log->reallocs++;
    log->last = p;
    return realloc(p, n);
}

static void fb_free(void *ctx, void *p) {
    struct fb_log *log = ctx;
    log->frees++;
    log->last = p;
    free(p);
}

static void fb_log_only(void *ctx, void *p) {
    struct fb_log *log = ctx;
    log->frees++;
    log->last = p;
}

/* pool_fallback_*: new blocks from the pool; pool blocks back to the pool;
** NULL to nobody; another allocator's pointer, and a pointer inside a pool
** block (another allocator's block carved from ours), to the fallback with
** its ctx. */
static void test_fallback(void) {
    struct fb_log log = {0};
    pool_fallback_t fb = { &log, NULL, NULL, fb_realloc, fb_free };
    pool_stats_t st0, st;
    pool_stats(&st0);
    char *p = pool_fallback_malloc(&fb, 40);
    CHECK(p != NULL && pool_is_block(p));
    memset(p, 7, 40);
    char *q = pool_fallback_realloc(&fb, p, 400);
    CHECK(q != NULL && pool_is_block(q) && q[39] == 7);
    pool_fallback_free(&fb, q);
    pool_fallback_free(&fb, NULL);
    pool_stats(&st);
    CHECK_EQ(st.allocs - st0.allocs, 2);
    CHECK_EQ(st.frees - st0.frees, 2);
    CHECK(log.frees == 0 && log.reallocs == 0);
    char *z = pool_fallback_calloc(&fb, 10, 30);
    CHECK(z != NULL && pool_is_block(z));
    for (int i = 0; i < 300; i++) CHECK(z[i] == 0);
    errno = 0;
    CHECK(pool_fallback_calloc(&fb, SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
    char *inner = malloc(64);
    CHECK(inner != NULL);
    char *moved = pool_fallback_realloc(&fb, inner, 128);
    CHECK(moved != NULL && log.reallocs == 1 && log.last == inner && !pool_is_block(moved));
    pool_fallback_free(&fb, moved);
    CHECK(log.frees == 1 && log.last == moved);
    /* Inside a pool block: another allocator's block carved from one of
    ** ours, so it goes to that allocator (here one that only logs it). */
    fb.free = fb_log_only;
    pool_fallback_free(&fb, z + 16);
    CHECK(log.frees == 2 && log.last == z + 16);
    CHECK(pool_is_block(z));
    char *n = pool_fallback_realloc(&fb, NULL, 24);
    CHECK(n != NULL && pool_is_block(n));
    pool_fallback_free(&fb, n);
    pool_fallback_free(&fb, z);
    CHECK(log.frees == 2);
}

int main(void) {
    test_block_starts_every_class();
    test_fallback();
    test_malloc_zero_unique();
    test_errors();
    test_realloc_semantics();
    test_calloc_zero();
    test_aligned();
    test_owns();
    test_free_block();
    test_free_keeps_errno();
    test_large_cache();
    test_size_classes();
    test_stats_exact();
    test_page_map_cached();
    printf("test_api: ok\n");
    return 0;
}
