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
** one.
** POOL_DECAY_MS is set long so a slow round (sanitizers, a loaded machine)
** cannot age a cached page out in the middle: the decay itself is
** test_trim's subject. */
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
