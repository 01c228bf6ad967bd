/* test_badinput.c -- every public entry point of pool.h given NULLs, huge
** sizes, bad alignments and nonsense options: each returns NULL (or its
** documented value) with errno ENOMEM/EINVAL, and the allocator works
** afterwards (contents and counts checked). */
#include <limits.h>
#include <stdint.h>

#include "check.h"

#define HUGE_PTRDIFF ((size_t)PTRDIFF_MAX + 1)
static const size_t huge_sizes[] = { SIZE_MAX, SIZE_MAX - 15, SIZE_MAX - 4096, HUGE_PTRDIFF, SIZE_MAX / 2 };
#define NHUGE (sizeof huge_sizes / sizeof *huge_sizes)

/* call must give NULL with errno err. */
#define CHECK_FAILS(call, err)      \
    do {                            \
        errno = 0;                  \
        void *r_ = (call);          \
        CHECK(r_ == NULL);          \
        CHECK_EQ(errno, (err));     \
    } while (0)

/* A live block of n bytes filled with a pattern derived from seed. */
static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + i * 7);
}
static void verify(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) CHECK_EQ(p[i], (unsigned char)(seed + i * 7));
}

/* After bad calls the allocator still works: many sizes, every block
** filled and verified, process live bytes back where they were. */
static void still_works(const char *after) {
    enum { N = 300 };
    static void *blocks[N];
    pool_stats_t before, st;
    CHECK(pool_stats(&before) == 0);
    for (unsigned i = 0; i < N; i++) {
        size_t n = 1 + (i * 977u) % 5000u;
        blocks[i] = i % 3 == 0 ? pool_calloc(1, n) : pool_malloc(n);
        CHECK(blocks[i] != NULL && pool_owns(blocks[i]) && pool_usable_size(blocks[i]) >= n);
        fill(blocks[i], n, i);
    }
    for (unsigned i = 0; i < N; i++) {
        verify(blocks[i], 1 + (i * 977u) % 5000u, i);
        pool_free(blocks[i]);
    }
    CHECK(pool_stats(&st) == 0);
    CHECK_EQ(st.live_bytes, before.live_bytes);
    CHECK_EQ(st.allocs - before.allocs, N);
    CHECK_EQ(st.frees - before.frees, N);
    printf("after %-28s ok: allocator works\n", after);
}

static void test_process_pool(void) {
    for (size_t i = 0; i < NHUGE; i++) {
        size_t n = huge_sizes[i];
        CHECK_FAILS(pool_malloc(n), ENOMEM);
        CHECK_FAILS(pool_calloc(1, n), ENOMEM);
        CHECK_FAILS(pool_calloc(n, 1), ENOMEM);
        CHECK_FAILS(pool_realloc(NULL, n), ENOMEM);
        CHECK_FAILS(pool_aligned_alloc(64, n), ENOMEM);
        CHECK_FAILS(pool_aligned_alloc(16, n), ENOMEM);
        CHECK_FAILS(pool_aligned_alloc(1 << 20, n), ENOMEM);
    }
    /* calloc products that overflow */
    CHECK_FAILS(pool_calloc(SIZE_MAX, 2), ENOMEM);
    CHECK_FAILS(pool_calloc(2, SIZE_MAX), ENOMEM);
    CHECK_FAILS(pool_calloc((size_t)1 << 32, (size_t)1 << 32), ENOMEM);
    CHECK_FAILS(pool_calloc(HUGE_PTRDIFF, 2), ENOMEM);
    /* A zero product is a zero-size allocation: unique, freeable. */
    void *z1 = pool_calloc(0, SIZE_MAX), *z2 = pool_calloc(SIZE_MAX, 0);
    CHECK(z1 && z2 && z1 != z2 && pool_owns(z1) && pool_owns(z2));
    pool_free(z1);
    pool_free(z2);
    /* bad alignments */
    static const size_t bad_align[] = { 0, 3, 24, 48, 100, 4097, SIZE_MAX, HUGE_PTRDIFF + 1 };
    for (size_t i = 0; i < sizeof bad_align / sizeof *bad_align; i++) CHECK_FAILS(pool_aligned_alloc(bad_align[i], 16), EINVAL);
    /* huge powers of two: too big to meet, not wrapped */
    CHECK_FAILS(pool_aligned_alloc(HUGE_PTRDIFF, 16), ENOMEM);
    CHECK_FAILS(pool_aligned_alloc((size_t)1 << 46, 16), ENOMEM);
    /* small alignments are honoured */
    for (size_t a = 1; a <= ((size_t)1 << 22); a <<= 1) {
        unsigned char *p = pool_aligned_alloc(a, 100);
        CHECK(p != NULL && ((uintptr_t)p & (a - 1)) == 0);
        fill(p, 100, (unsigned)a);
        verify(p, 100, (unsigned)a);
        pool_free(p);
    }
    /* realloc to a huge size fails and leaves the block whole */
    for (size_t i = 0; i < NHUGE; i++) {
        unsigned char *p = pool_malloc(200);
        fill(p, 200, 5);
        CHECK_FAILS(pool_realloc(p, huge_sizes[i]), ENOMEM);
        verify(p, 200, 5);
        unsigned char *big = pool_malloc(300000);
        fill(big, 300000, 9);
        CHECK_FAILS(pool_realloc(big, huge_sizes[i]), ENOMEM);
        verify(big, 300000, 9);
        pool_free(big);
        pool_free(p);
    }
    /* realloc to 0 keeps a live, freeable block */
    void *p0 = pool_malloc(40);
    p0 = pool_realloc(p0, 0);
    CHECK(p0 != NULL && pool_owns(p0));
    pool_free(p0);
    /* NULLs */
    pool_free(NULL);
    CHECK_EQ(pool_usable_size(NULL), 0);
    /* zero-size blocks are unique */
    void *m0 = pool_malloc(0), *m1 = pool_malloc(0);
    CHECK(m0 && m1 && m0 != m1);
    pool_free(m0);
    pool_free(m1);
    /* ownership of anything */
    int local;
    static const uintptr_t odd[] = { 0, 1, 15, 4096, UINTPTR_MAX, UINTPTR_MAX - 15, (uintptr_t)1 << 47, (uintptr_t)1 << 63 };
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        CHECK(!pool_owns((void *)odd[i]));
        CHECK(pool_heap_of((void *)odd[i]) == NULL);
    }
    CHECK(!pool_owns(&local) && !pool_owns(huge_sizes));
    /* limits: a huge limit is no limit in practice; 0 removes it */
    CHECK_EQ(pool_set_limit(SIZE_MAX), 0);
    CHECK_EQ(pool_get_limit(), 0); /* SIZE_MAX means none */
    void *q = pool_malloc(1000);
    CHECK(q != NULL);
    pool_free(q);
    CHECK_EQ(pool_set_limit(0), 0);
    /* trim with nothing to do, twice */
    (void)pool_trim();
    (void)pool_trim();
    /* size classes out of range */
    CHECK_EQ(pool_size_class(SIZE_MAX), -1);
    CHECK_EQ(pool_size_class(POOL_MAX_CLASS_SIZE + 1), -1);
    CHECK_EQ(pool_size_class(0), 0);
    static const int bad_cls[] = { -1, INT_MIN, POOL_NCLASSES, INT_MAX };
    for (size_t i = 0; i < sizeof bad_cls / sizeof *bad_cls; i++) {
        errno = 0;
        CHECK_EQ(pool_class_size(bad_cls[i]), 0);
        CHECK_EQ(errno, EINVAL);
    }
}

/* Every pool_heap_* with a NULL heap. */
static void test_null_heap(void) {
    pool_stats_t st;
    CHECK_FAILS(pool_heap_malloc(NULL, 16), EINVAL);
    CHECK_FAILS(pool_heap_malloc_tagged(NULL, 16, 1), EINVAL);
    CHECK_FAILS(pool_heap_calloc(NULL, 1, 16), EINVAL);
    CHECK_FAILS(pool_heap_realloc(NULL, NULL, 16), EINVAL);
    CHECK_FAILS(pool_heap_realloc_sized(NULL, NULL, 0, 16), EINVAL);
    errno = 0;
    CHECK_EQ(pool_heap_check(NULL), -1);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK_EQ(pool_heap_set_limit(NULL, 100), 0);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK_EQ(pool_heap_get_limit(NULL), 0);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK_EQ(pool_heap_stats(NULL, &st), -1);
    CHECK_EQ(errno, EINVAL);
    pool_heap_reset_peak(NULL);
    pool_heap_destroy(NULL);
    pool_heap_free(NULL, NULL);
    pool_heap_free_sized(NULL, NULL, 0);
    /* A NULL heap's free is the process pool's free (documented fallback). */
    void *p = pool_malloc(32), *q = pool_malloc(32);
    pool_heap_free(NULL, p);
    pool_heap_free_sized(NULL, q, 32);
    CHECK(pool_heap_of(NULL) == NULL);
}

/* Heaps made with nonsense options, and heap calls with huge sizes. */
static void test_heaps(void) {
    char longname[200];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    pool_heap_options_t odd[] = {
        { .limit = SIZE_MAX, .debug = 42, .sized = -7, .name = longname },
        { .limit = 0, .debug = -1, .sized = 0, .name = "" },
        { .limit = SIZE_MAX, .debug = 0, .sized = 1, .name = NULL },
    };
    for (size_t k = 0; k < sizeof odd / sizeof *odd; k++) {
        pool_heap_t *h = pool_heap_new(&odd[k]);
        CHECK(h != NULL);
        CHECK_EQ(pool_heap_get_limit(h), 0); /* SIZE_MAX and 0 both mean none */
        for (size_t i = 0; i < NHUGE; i++) {
            size_t n = huge_sizes[i];
            CHECK_FAILS(pool_heap_malloc(h, n), ENOMEM);
            CHECK_FAILS(pool_heap_malloc_tagged(h, n, 3), ENOMEM);
            CHECK_FAILS(pool_heap_calloc(h, 1, n), ENOMEM);
            CHECK_FAILS(pool_heap_calloc(h, n, 3), ENOMEM);
            CHECK_FAILS(pool_heap_realloc(h, NULL, n), ENOMEM);
            unsigned char *p = pool_heap_malloc(h, 100);
            CHECK(p != NULL);
            fill(p, 100, 3);
            CHECK_FAILS(pool_heap_realloc(h, p, n), ENOMEM);
            CHECK_FAILS(pool_heap_realloc_sized(h, p, 100, n), ENOMEM);
            verify(p, 100, 3);
            pool_heap_free_sized(h, p, 100);
        }
        CHECK_FAILS(pool_heap_calloc(h, SIZE_MAX, SIZE_MAX), ENOMEM);
        /* A tag out of range counts as tag 0. */
        pool_stats_t st;
        void *t = pool_heap_malloc_tagged(h, 24, 1000000);
        CHECK(t != NULL);
        CHECK(pool_heap_stats(h, &st) == 0);
        CHECK_EQ(st.tags[0], 1);
        /* size-0 blocks, freed sized with 0 */
        void *z = pool_heap_malloc(h, 0);
        CHECK(z != NULL && pool_heap_of(z) == h);
        pool_heap_free_sized(h, z, 0);
        z = pool_heap_realloc_sized(h, NULL, 0, 0);
        CHECK(z != NULL);
        z = pool_heap_realloc_sized(h, z, 0, 10);
        CHECK(z != NULL);
        pool_heap_free_sized(h, z, 10);
        pool_heap_free_sized(h, t, 24);
        CHECK(pool_heap_stats(h, &st) == 0);
        CHECK_EQ(st.live_bytes, 0);
        CHECK(pool_heap_stats(h, NULL) == -1 && errno == EINVAL);
        pool_heap_destroy(h);
    }
    /* A limit of one byte: nothing fits, every failure is ENOMEM. */
    pool_heap_options_t tiny = { .limit = 1, .sized = 1 };
    pool_heap_t *h = pool_heap_new(&tiny);
    CHECK(h != NULL);
    CHECK_FAILS(pool_heap_malloc(h, 2), ENOMEM);
    CHECK_FAILS(pool_heap_malloc(h, 1000000), ENOMEM);
    void *one = pool_heap_malloc(h, 1);
    CHECK(one != NULL);
    CHECK_FAILS(pool_heap_realloc_sized(h, one, 1, 2), ENOMEM);
    pool_heap_free_sized(h, one, 1);
    CHECK_EQ(pool_heap_set_limit(h, 0), 1);
    pool_heap_destroy(h);
}

/* Stats entry points with NULL and too-small buffers: snprintf rules,
** never a byte past len. */
static void test_stats_buffers(void) {
    pool_stats_t st;
    char buf[64];
    errno = 0;
    CHECK(pool_stats(NULL) == -1 && errno == EINVAL);
    CHECK(pool_stats(&st) == 0);
    size_t (*fmt[2])(const pool_stats_t *, char *, size_t) = { pool_stats_report, pool_stats_json };
    for (int f = 0; f < 2; f++) {
        errno = 0;
        CHECK_EQ(fmt[f](NULL, buf, sizeof buf), 0);
        CHECK_EQ(errno, EINVAL);
        size_t need = fmt[f](&st, NULL, 0);
        CHECK(need > 100);
        CHECK_EQ(fmt[f](&st, NULL, 1000), need); /* NULL buffer: only measure */
        for (size_t len = 0; len < 12; len++) {
            memset(buf, '#', sizeof buf);
            CHECK_EQ(fmt[f](&st, buf, len), need);
            if (len) CHECK_EQ(strlen(buf), len - 1);
            for (size_t i = len; i < sizeof buf; i++) CHECK_EQ(buf[i], '#');
        }
        /* nonsense class count: bounded by POOL_NCLASSES */
        pool_stats_t bad = st;
        bad.nclasses = UINT_MAX;
        CHECK_EQ(fmt[f](&bad, NULL, 0), need);
    }
    pool_print_stats(NULL);
    /* the page map with no buffer, or a NULL buffer and a max */
    size_t n = pool_page_map(NULL, 0);
    CHECK_EQ(pool_page_map(NULL, 1000), n);
    pool_page_info_t one;
    CHECK_EQ(pool_page_map(&one, 1), n);
    pool_reset_peak();
}

int main(void) {
    still_works("start");
    test_process_pool();
    still_works("process pool bad input");
    test_null_heap();
    still_works("NULL heaps");
    test_heaps();
    still_works("odd heaps");
    test_stats_buffers();
    still_works("stats buffers");
    printf("test_badinput: ok\n");
    return 0;
}
