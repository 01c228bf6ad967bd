/* test_trim.c -- memory goes back to the OS: after a large live set is
** freed, pool_trim() brings RSS back near where it started, and without
** trim the decay purges free pages and cached large mappings once they
** have aged. */
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size, res;
    CHECK(f && fscanf(f, "%ld %ld", &size, &res) == 2);
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Milliseconds since t0 (CLOCK_MONOTONIC): some cases assert what holds
** only if the machine did not stall for part of the decay meanwhile. */
static long ms_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

#define N 400000

static void **fill_live_set(void) {
    void **ps = malloc(N * sizeof *ps);
    for (long i = 0; i < N; i++) {
        size_t n = 16 + (size_t)(i * 7919 % 1000);
        ps[i] = pool_malloc(n);
        memset(ps[i], 1, n);
    }
    return ps;
}

/* A page request that finds no cached page of its span length gives back
** the cached pages of the other lengths that have waited an eighth of the
** decay (here 6 ms), before the decay itself: the emptied 1-slice pages
** (but the one kept in place) go back when a 4-slice page is taken 20 ms
** later.  (Had the machine
** stalled past the decay, the decay gives them back: the same count.) */
static void trim_on_miss(void) {
    enum { B = 4000 };                 /* 64-byte blocks: 5 pages of 1 slice */
    static void *blocks[B];
    pool_stats_t full, cached, taken;
    for (int i = 0; i < B; i++) CHECK((blocks[i] = pool_malloc(64)) != NULL);
    CHECK(pool_stats(&full) == 0);
    size_t pages = full.committed_bytes / 65536;       /* nothing else is allocated yet */
    CHECK(pages >= 4 && full.committed_bytes == pages * 65536);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < B; i++) pool_free(blocks[i]);
    CHECK(pool_stats(&cached) == 0);
    /* all but one cached, one kept in place (unless the machine stalled for most of the decay) */
    if (ms_since(&t0) < 30) CHECK_EQ(cached.committed_bytes, full.committed_bytes);
    struct timespec wait = { 0, 20 * 1000000L };
    nanosleep(&wait, NULL);
    void *p = pool_malloc(20000);      /* a class of 4-slice pages */
    CHECK(p != NULL);
    CHECK(pool_stats(&taken) == 0);
    CHECK_EQ(taken.committed_bytes, (1 + 4) * 65536);
    pool_free(p);
}

/* The emptied only page of a medium class, once idle for an eighth of the
** decay, is not kept for that class: the next page of another class with
** the same span length is the same span (its first block at the same
** address).  After trim_on_miss, whose 20000-byte class is not used here. */
static void medium_reuse(void) {
    static const size_t pair[][2] = { { 40000, 100000 }, { 10000, 28000 } };   /* 16 slices, 4 slices */
    for (size_t i = 0; i < 2; i++) {
        char *p = pool_malloc(pair[i][0]);
        CHECK(p != NULL);
        memset(p, 5, pair[i][0]);
        pool_free(p);
        struct timespec idle = { 0, 20 * 1000000L };
        nanosleep(&idle, NULL);
        char *q = pool_malloc(pair[i][1]);
        CHECK(q == p);
        CHECK(pool_usable_size(q) >= pair[i][1]);
        memset(q, 6, pair[i][1]);
        pool_free(q);
    }
}

/* Resident OS pages of [p, p + n). */
static size_t resident_pages(const void *p, size_t n) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p & ~(ps - 1), end = ((uintptr_t)p + n + ps - 1) & ~(ps - 1);
    unsigned char v[64];
    CHECK((end - a) / ps <= sizeof v && mincore((void *)a, end - a, v) == 0);
    size_t r = 0;
    for (size_t i = 0; i < (end - a) / ps; i++) r += v[i] & 1;
    return r;
}

/* Slow allocations (over 1 KiB: no fast path) of a class with 1-slice
** pages, enough for a heap's beat (every 64). */
static void slow_allocations(void) {
    for (int i = 0; i < 200; i++) {
        void *p = pool_malloc(2000);
        CHECK(p != NULL);
        pool_free(p);
    }
}

/* A medium class used once: its only page, empty, keeps its memory while
** the heap goes on allocating, for the decay; then the heap's beat gives
** the memory back in place, and the page carves afresh from its start. */
static void medium_idle_purged(void) {
    struct timespec t0, idle = { 0, 80 * 1000000L };
    char *p = pool_malloc(40000);           /* 40 KiB blocks, 16-slice pages */
    CHECK(p != NULL);
    memset(p, 7, 40000);
    CHECK(resident_pages(p, 40000) >= 9);
    pool_stats_t before, after;
    CHECK(pool_stats(&before) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pool_free(p);
    slow_allocations();
    size_t kept = resident_pages(p, 40000);
    if (ms_since(&t0) < 25) CHECK(kept >= 9);
    nanosleep(&idle, NULL);
    slow_allocations();
    CHECK(pool_stats(&after) == 0);
    CHECK_EQ(resident_pages(p, 40000), 0);
    CHECK(after.madvise_calls > before.madvise_calls);
    CHECK_EQ(after.classes[pool_size_class(40000)].pages, 1);  /* still its class's page */
    char *q = pool_malloc(40000);
    CHECK(q == p);
    for (size_t i = 16; i < 40000; i++) CHECK(q[i] == 0);      /* zero again past its free-list link */
    pool_free(q);
}

/* Medium blocks freed together: the emptied page that is not its class's
** only one goes to the heap's cache, resident; once it has waited a 32nd
** of the decay, the heap's next growth (here a large block mapped afresh)
** purges it in place first, and so the class's last page, kept in place
** empty: it stays its class's page and carves afresh.  14 KiB blocks
** (4-slice pages of 18), a class no earlier case used; no large block was
** freed before, so none is cached. */
static void medium_cache_purged(void) {
    enum { NB = 19 };
    char *b[NB];
    for (int i = 0; i < NB; i++) {
        CHECK((b[i] = pool_malloc(14000)) != NULL);
        memset(b[i], 8, 14000);
    }
    pool_stats_t before, after;
    CHECK(pool_stats(&before) == 0);
    CHECK_EQ(before.classes[pool_size_class(14000)].pages, 2);
    struct timespec t0, idle = { 0, 30 * 1000000L };
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < NB; i++) pool_free(b[i]);
    nanosleep(&idle, NULL);
    slow_allocations();                     /* a steady state: nothing purged */
    for (int i = 0; i < NB; i++) CHECK(resident_pages(b[i], 14000) >= 3);
    /* Past the decay (a stalled machine) the cache would have given the
    ** page back to its segment instead, resident until a purge pass. */
    bool cached = ms_since(&t0) < 45;
    void *big = pool_malloc(512 * 1024);
    CHECK(big != NULL);
    CHECK(pool_stats(&after) == 0);
    if (cached) {
        CHECK(after.madvise_calls > before.madvise_calls);
        for (int i = 0; i < NB - 1; i++) CHECK_EQ(resident_pages(b[i], 14000), 0);
    }
    CHECK_EQ(resident_pages(b[NB - 1], 14000), 0);                          /* the only page too */
    CHECK_EQ(after.classes[pool_size_class(14000)].pages, 1);
    pool_free(big);
    char *q = pool_malloc(14000);
    CHECK(q == b[NB - 1]);
    for (size_t i = 16; i < 14000; i++) CHECK(q[i] == 0);
    pool_free(q);
}

/* A buffer grown by realloc through the medium classes: each move sheds
** the emptied page of the class it leaves, and the next class takes it, so
** the chain holds a page or two of each span length, not one per class
** (17 classes from 8 to 128 KiB, 10 MiB of spans before).  The first two
** steps, in classes no earlier case used: the 16 KiB block lands where the
** 8 KiB one was, unless the machine stalled for most of the decay. */
static void realloc_chain(void) {
    pool_stats_t before, after;
    CHECK(pool_stats(&before) == 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *p = pool_malloc(8192), *first = p;
    CHECK(p != NULL);
    memset(p, 9, 8192);
    CHECK((p = pool_realloc(p, 12288)) != NULL && p != first);
    memset(p + 8192, 9, 4096);
    CHECK((p = pool_realloc(p, 16384)) != NULL);
    memset(p + 12288, 9, 4096);
    if (ms_since(&t0) < 25) CHECK(p == first);
    for (size_t n = 20480; n <= 131072; n += 4096) {
        CHECK((p = pool_realloc(p, n)) != NULL);
        memset(p + n - 4096, 9, 4096);
    }
    for (size_t i = 0; i < 131072; i++) CHECK(p[i] == 9);
    CHECK(pool_stats(&after) == 0);
    CHECK(after.committed_bytes <= before.committed_bytes + ((size_t)3 << 20));
    CHECK_EQ(after.live_bytes, before.live_bytes + pool_usable_size(p));
    pool_free(p);
}

/* n bytes of 256-byte blocks, written; *count gets how many. */
static void **small_blocks(size_t n, size_t *count) {
    *count = n / 256;
    void **ps = malloc(*count * sizeof *ps);
    CHECK(ps != NULL);
    for (size_t i = 0; i < *count; i++) {
        CHECK((ps[i] = pool_malloc(256)) != NULL);
        memset(ps[i], 2, 256);
    }
    return ps;
}

static void free_blocks(void **ps, size_t count) {
    for (size_t i = 0; i < count; i++) pool_free(ps[i]);
    free(ps);
}

/* A freed large block's mapping waits, resident, for the next large
** request; the process's growth past the most it ever held unmaps it once
** it has waited a 32nd of the decay (here 1 ms), but growth below that
** mark does not.  The pages of the small blocks freed first come back
** below the mark: the mapping is reused with its pages (the first 63 of
** 256 checked).  Then 24 MiB of small blocks, more than the process held
** before: the mapping goes, and the next 1 MiB request maps fresh pages. */
static void large_cache_at_peak(void) {
    enum { BIG = 1 << 20 };
    size_t n;
    void **ps = small_blocks(8 << 20, &n);
    free_blocks(ps, n);
    char *big = pool_malloc(BIG);
    CHECK(big != NULL);
    memset(big, 4, BIG);
    struct timespec t0, wait = { 0, 5 * 1000000L };
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pool_free(big);
    nanosleep(&wait, NULL);
    ps = small_blocks(4 << 20, &n);
    char *again = pool_malloc(BIG);
    CHECK(again != NULL);
    if (ms_since(&t0) < 40) CHECK(resident_pages(again, 63 * 4096) >= 63);    /* else the decay took it */
    pool_free(again);
    free_blocks(ps, n);
    pool_stats_t before, after;
    CHECK(pool_stats(&before) == 0);
    nanosleep(&wait, NULL);
    ps = small_blocks(24 << 20, &n);
    CHECK(pool_stats(&after) == 0);
    CHECK(after.munmap_calls > before.munmap_calls);
    char *fresh = pool_malloc(BIG);
    CHECK(fresh != NULL);
    CHECK_EQ(resident_pages(fresh + 4096, 62 * 4096), 0);       /* past the header's page */
    for (size_t i = 0; i < 63 * 4096; i += 4096) CHECK(fresh[i] == 0);
    pool_free(fresh);
    free_blocks(ps, n);
}

int main(void) {
    setenv("POOL_DECAY_MS", "50", 1);
    trim_on_miss();
    medium_reuse();
    medium_idle_purged();
    medium_cache_purged();
    realloc_chain();
    large_cache_at_peak();
    /* A program that frees large blocks and then only allocates small
    ** ones: the cached mappings go back once they have aged, at the next
    ** page a heap takes, with no large free, span free or trim to prompt
    ** it.  First, while no heap has pages to give back. */
    void *bufs[4];
    for (int i = 0; i < 4; i++) {
        CHECK((bufs[i] = pool_malloc((size_t)(2 + i) << 20)) != NULL);
        memset(bufs[i], 3, (size_t)(2 + i) << 20);
    }
    /* Read before the frees: had they stalled past the decay, the last ones
    ** would give back the first. */
    long cached = rss_kb();
    pool_stats_t before, after;
    CHECK(pool_stats(&before) == 0);
    for (int i = 0; i < 4; i++) pool_free(bufs[i]);
    struct timespec aged = { 0, 200 * 1000000L };
    nanosleep(&aged, NULL);
    enum { TICK = 20000 };
    void **tick = malloc(TICK * sizeof *tick);
    for (int i = 0; i < TICK; i++) CHECK((tick[i] = pool_malloc(200)) != NULL);   /* takes pages */
    CHECK(pool_stats(&after) == 0);
    long ticked = rss_kb();
    printf("rss: large blocks freed %ld KiB, after the decay and small allocations %ld KiB\n", cached, ticked);
    CHECK(after.munmap_calls >= before.munmap_calls + 4);
    CHECK(ticked < cached - 8 * 1024);       /* 14 MiB of cached mappings, less 4 MiB of small blocks */
    for (int i = 0; i < TICK; i++) pool_free(tick[i]);
    free(tick);
    pool_trim();

    void **ps = malloc(N * sizeof *ps); /* our own array: touch it first */
    memset(ps, 0, N * sizeof *ps);
    free(ps);
    long base = rss_kb();
    ps = fill_live_set();
    long full = rss_kb();
    CHECK(full > base + 150 * 1024); /* ~200 MB live */
    /* What may stay resident: a few MiB of metadata and kept pages, plus,
    ** under ASan, the shadow of the poisoned blocks (an eighth of the live
    ** set) and ASan's own metadata, which no trim of ours gives back. */
    long slack = 16 * 1024;
#if defined(__SANITIZE_ADDRESS__)
    slack += (full - base) / 4;
#endif
    for (long i = 0; i < N; i++) pool_free(ps[i]);
    size_t released = pool_trim();
    long trimmed = rss_kb();
    printf("rss: start %ld KiB, live set %ld KiB, after free+trim %ld KiB (released %zu bytes)\n", base, full,
           trimmed, released);
    CHECK(trimmed < base + slack);
    pool_stats_t st;
    CHECK(pool_stats(&st) == 0 && st.madvise_calls > 0);
    free(ps);

    /* Decay: free a live set, let it age, and any later page release
    ** purges it without pool_trim(). */
    ps = fill_live_set();
    for (long i = 0; i < N; i++) pool_free(ps[i]);
    long freed = rss_kb();
    struct timespec ts = { 0, 200 * 1000000L };
    nanosleep(&ts, NULL);
    for (int k = 0; k < 3; k++) { /* churn that takes and returns pages */
        void *big[64];
        for (int i = 0; i < 64; i++) big[i] = pool_malloc(100000);
        for (int i = 0; i < 64; i++) pool_free(big[i]);
    }
    long decayed = rss_kb();
    printf("rss: after free %ld KiB, after decay %ld KiB\n", freed, decayed);
    CHECK(decayed < base + slack + 8 * 1024);
    free(ps);

    /* Under a limit, the pages a heap keeps for reuse make room: after
    ** 24 MiB of small blocks are freed, a 20 MiB block fits under a limit
    ** of 32 MiB above what is in use. */
    pool_stats_t now;
    CHECK(pool_stats(&now) == 0);
    pool_set_limit(now.committed_bytes + (32u << 20));
    enum { SMALL = (24 << 20) / 512 };
    void **small = malloc(SMALL * sizeof *small);
    for (long i = 0; i < SMALL; i++) CHECK((small[i] = pool_malloc(500)) != NULL);
    for (long i = 0; i < SMALL; i++) pool_free(small[i]);
    char *big = pool_malloc(20u << 20);
    CHECK(big != NULL);
    memset(big, 2, 20u << 20);
    pool_free(big);
    errno = 0;
    CHECK(pool_malloc(40u << 20) == NULL && errno == ENOMEM);
    pool_set_limit(0);
    free(small);
    printf("test_trim: ok\n");
    return 0;
}
