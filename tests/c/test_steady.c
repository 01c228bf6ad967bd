/* test_steady.c -- in steady state a thread allocates and frees without the
** global lock and without a system call.  Each pattern runs a few rounds to
** warm up, then more rounds during which the stats' lock_acquires,
** mmap_calls, munmap_calls and madvise_calls must not move: emptied pages
** stay in the heap's cache and are taken back from it, nothing is purged
** while it is being reused.  The patterns are issue 14's: a batch of 100k
** 64-byte blocks, a batch of 100k random sizes 8..1024 (the same batch
** each round), malloc-then-free of 8..263 bytes, and churn over a live set
** of 100k blocks of 8..508 (each replaced by one of its size); and
** medium blocks (7 KiB to 128 KiB), malloc-then-free and a batch; and a
** large block resized in place, of the thread's heap and of a first-class
** one.  Then growth: a growing thread takes the lock once per segment, and
** small heaps share segments.
** POOL_DECAY_MS is set long so a slow round (sanitizers, a loaded machine)
** cannot age a cached page out in the middle: the decay itself is
** test_trim's subject. */
#include <pthread.h>
#include <stdint.h>

#include "check.h"

#define N 100000

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t rnd(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return rng;
}

static void *take(size_t n) {
    unsigned char *p = pool_malloc(n);
    CHECK(p != NULL);
    p[0] = (unsigned char)n;
    p[n - 1] = (unsigned char)(n >> 3);
    return p;
}
static void give(void *v, size_t n) {
    unsigned char *p = v;
    CHECK(p[0] == (unsigned char)n && p[n - 1] == (unsigned char)(n >> 3));
    pool_free(p);
}

static void *live[N];
static uint32_t size_of[N];

/* The same batch every round: one multiset of sizes, in one order (a
** fresh random multiset each round would now and then need a page more
** than any round before, which is a new page, not a steady state). */
static uint32_t sizes64[N], sizesrand[N];

static void batch(const uint32_t *sizes) {
    for (size_t i = 0; i < N; i++) live[i] = take(sizes[i]);
    for (size_t i = 0; i < N; i++) give(live[i], sizes[i]);
}
static void batch64(void) { batch(sizes64); }
static void batchrand(void) { batch(sizesrand); }

static void pairs(void) {
    for (size_t i = 0; i < 4 * N; i++) {
        size_t n = 8 + rnd() % 256;
        give(take(n), n);
    }
}

/* A random block of the live set is freed and replaced by one of its size:
** each class keeps its count, so its pages always have room. */
static int churn_filled;
static void churn(void) {
    if (!churn_filled) {
        for (size_t i = 0; i < N; i++) live[i] = take(size_of[i] = (uint32_t)(8 + rnd() % 501));
        churn_filled = 1;
    }
    for (size_t i = 0; i < 2 * N; i++) {
        size_t k = rnd() % N;
        give(live[k], size_of[k]);
        live[k] = take(size_of[k]);
    }
}

static void steady(const char *name, void (*round)(void)) {
    for (int r = 0; r < 3; r++) round();
    pool_stats_t a, b;
    CHECK(pool_stats(&a) == 0);
    for (int r = 0; r < 5; r++) round();
    CHECK(pool_stats(&b) == 0);
    printf("%-10s locks %llu, mmap %llu, munmap %llu, madvise %llu over 5 rounds\n", name,
           (unsigned long long)(b.lock_acquires - a.lock_acquires - 1), (unsigned long long)(b.mmap_calls - a.mmap_calls),
           (unsigned long long)(b.munmap_calls - a.munmap_calls), (unsigned long long)(b.madvise_calls - a.madvise_calls));
    CHECK_EQ(b.lock_acquires - a.lock_acquires, 1);   /* the second pool_stats' own */
    CHECK_EQ(b.mmap_calls, a.mmap_calls);
    CHECK_EQ(b.munmap_calls, a.munmap_calls);
    CHECK_EQ(b.madvise_calls, a.madvise_calls);
    CHECK(pool_check() >= 0);
}

/* Medium blocks (over 7 KiB: pages of 4 and 16 slices), whose pages do
** not stay in place when they empty but go through the heap's cache: a
** malloc-then-free of each medium size, and a batch of 24 blocks of 50 KB. */
static void medium(void) {
    for (size_t n = 7200; n <= 131072; n += 1500) give(take(n), n);
    void *batch[24];
    for (size_t i = 0; i < 24; i++) batch[i] = take(50000);
    for (size_t i = 0; i < 24; i++) give(batch[i], 50000);
}

/* A large block resized in place, step by step, within the mapping its
** first round grew to: the thread heap's and a first-class heap's (whose
** live bytes follow every step). */
static void *big, *hbig;
static pool_heap_t *heap;
static uint64_t heap_live(void) {
    pool_stats_t st;
    CHECK(pool_heap_stats(heap, &st) == 0);
    return st.live_bytes;
}
static void *resize(void *p, size_t n) {
    unsigned char *q = heap && p == hbig ? pool_heap_realloc(heap, p, n) : pool_realloc(p, n);
    CHECK(q != NULL);
    CHECK(q[0] == 0x5a);
    q[n - 1] = 0xa5;
    return q;
}
static void large_resize(void) {
    for (size_t n = 200000; n <= 300000; n += 1000) {
        big = resize(big, n);
        hbig = resize(hbig, n);
        CHECK_EQ(heap_live(), n);
    }
}

/* Growth, the one state that is not steady: a thread whose live set grows
** through new pages takes the global lock for its first MiB of pages (a
** small heap shares segments) and then once per segment it claims (4 MiB:
** 63 pages of one slice), not once per page, since its spans come from its
** own segments under their own locks.  At its exit its segments
** are abandoned, still resident: a second thread growing the same way
** claims them, with no mmap.  pool_trim() then drops them (the spare
** stays). */
enum { GROW = 80000 };                  /* blocks of 1 KiB: 60 a page */
static uint64_t grow_mmaps;
static void *grow(void *arg) {
    static void *blocks[GROW];
    const pool_stats_t *before = arg;
    pool_stats_t after;
    for (size_t i = 0; i < GROW; i++) blocks[i] = take(1024);
    CHECK(pool_stats(&after) == 0);
    uint64_t pages = (after.committed_bytes - before->committed_bytes) / 65536;
    uint64_t locks = after.lock_acquires - before->lock_acquires - 1;   /* pool_stats' own */
    printf("growth     %llu new pages, %llu locks (the heap, its first 16 pages, a segment claimed per 63), %llu mmap\n",
           (unsigned long long)pages, (unsigned long long)locks,
           (unsigned long long)(after.mmap_calls - before->mmap_calls));
    CHECK(pages >= GROW / 60);
    CHECK(locks <= 1 + 16 + (pages + 62) / 63);
    CHECK(pool_check() >= 0);
    for (size_t i = 0; i < GROW; i++) give(blocks[i], 1024);
    grow_mmaps = after.mmap_calls - before->mmap_calls;
    return NULL;
}
/* Small heaps share: eight threads alive at once, each with four pages,
** take their spans from one shared segment, not a segment each (32 MiB). */
static pthread_barrier_t all_small;
static void *small(void *arg) {
    (void)arg;
    void *b[4];
    for (int i = 0; i < 4; i++) b[i] = take(64 + 160 * (size_t)i);     /* four classes: four pages */
    pthread_barrier_wait(&all_small);          /* all alive, the main thread reads the stats */
    pthread_barrier_wait(&all_small);
    for (int i = 0; i < 4; i++) give(b[i], 64 + 160 * (size_t)i);
    return NULL;
}
static void small_heaps(void) {
    pool_stats_t a, b;
    pthread_t t[8];
    pool_trim();                     /* no spare or abandoned segment left to share */
    CHECK(pool_stats(&a) == 0);
    CHECK(pthread_barrier_init(&all_small, NULL, 9) == 0);
    for (int i = 0; i < 8; i++) CHECK(pthread_create(&t[i], NULL, small, NULL) == 0);
    pthread_barrier_wait(&all_small);
    CHECK(pool_stats(&b) == 0);
    pthread_barrier_wait(&all_small);          /* now they may free */
    for (int i = 0; i < 8; i++) CHECK(pthread_join(t[i], NULL) == 0);
    printf("small      8 heaps, %llu pages, %llu KiB more reserved\n",
           (unsigned long long)((b.committed_bytes - a.committed_bytes) / 65536),
           (unsigned long long)((b.reserved_bytes - a.reserved_bytes) / 1024));
    CHECK_EQ(b.committed_bytes - a.committed_bytes, 32 * 65536);
    CHECK(b.reserved_bytes <= a.reserved_bytes + (4u << 20) + 65536);   /* one segment; heap structs */
    pthread_barrier_destroy(&all_small);
}

static void growth(void) {
    pool_stats_t start, st;
    CHECK(pool_stats(&start) == 0);
    for (int round = 0; round < 2; round++) {
        pthread_t t;
        CHECK(pool_stats(&st) == 0);
        CHECK(pthread_create(&t, NULL, grow, &st) == 0);
        CHECK(pthread_join(t, NULL) == 0);
    }
    CHECK_EQ(grow_mmaps, 0);            /* the second thread's segments were the first's */
    CHECK(pool_stats(&st) == 0);
    CHECK_EQ(st.committed_bytes, start.committed_bytes);
    CHECK(pool_trim() > 0);
    CHECK(pool_stats(&st) == 0);
    CHECK(st.reserved_bytes <= start.reserved_bytes + (4u << 20) + 65536);   /* the spare; heap structs */
    CHECK(pool_check() >= 0);
}

int main(void) {
    setenv("POOL_DECAY_MS", "600000", 1);
    for (size_t i = 0; i < N; i++) {
        sizes64[i] = 64;
        sizesrand[i] = (uint32_t)(8 + rnd() % 1017);
    }
    steady("batch64", batch64);
    steady("batchrand", batchrand);
    steady("pairs", pairs);
    steady("churn", churn);
    steady("medium", medium);
    growth();
    small_heaps();
    CHECK((heap = pool_heap_new(&(pool_heap_options_t){ .sized = 1 })) != NULL);
    CHECK((big = pool_malloc(200000)) != NULL && (hbig = pool_heap_malloc(heap, 200000)) != NULL);
    ((unsigned char *)big)[0] = ((unsigned char *)hbig)[0] = 0x5a;
    steady("large", large_resize);
    pool_free(big);
    pool_heap_free(heap, hbig);
    CHECK_EQ(heap_live(), 0);
    pool_heap_destroy(heap);
    for (size_t i = 0; i < N; i++) give(live[i], size_of[i]);
    /* What the steady state kept goes back on request. */
    pool_stats_t st;
    CHECK(pool_trim() > 0);
    CHECK(pool_stats(&st) == 0);
    CHECK_EQ(st.live_bytes, 0);
    printf("test_steady: ok\n");
    return 0;
}
