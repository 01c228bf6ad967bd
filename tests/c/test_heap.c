/* test_heap.c -- first-class heaps: destroy with live blocks, the byte limit
** enforced exactly, exact accounting of sized heaps, sized free and
** realloc, ownership queries. */
#include <stdint.h>

#include "check.h"

static void test_destroy_releases_everything(void) {
    pool_stats_t before, mid, after;
    CHECK(pool_stats(&before) == 0);
    pool_heap_t *h = pool_heap_new(NULL);
    CHECK(h != NULL);
    for (int i = 0; i < 20000; i++) {
        char *p = pool_heap_malloc(h, (size_t)(i % 3000) + 1);
        CHECK(p != NULL);
        p[0] = 1;
        CHECK(pool_heap_of(p) == h);
    }
    void *big = pool_heap_malloc(h, 5 << 20);
    CHECK(big && pool_heap_of(big) == h && pool_owns(big));
    CHECK(pool_stats(&mid) == 0);
    CHECK(mid.committed_bytes > before.committed_bytes + (20 << 20));
    CHECK_EQ(mid.heaps, before.heaps + 1);
    pool_heap_destroy(h); /* 20001 live blocks */
    CHECK(pool_stats(&after) == 0);
    CHECK_EQ(after.heaps, before.heaps);
    CHECK_EQ(after.committed_bytes, before.committed_bytes);
    CHECK_EQ(after.large_blocks, before.large_blocks);
    CHECK_EQ(after.live_bytes, before.live_bytes);
    CHECK(!pool_owns(big));
    for (int c = 0; c < POOL_NCLASSES; c++) CHECK_EQ(after.classes[c].live_blocks, before.classes[c].live_blocks);
}

static void test_limit_exact(void) {
    pool_heap_options_t o = { .limit = 10000, .sized = 1 };
    pool_heap_t *h = pool_heap_new(&o);
    CHECK(pool_heap_get_limit(h) == 10000);
    void *a = pool_heap_malloc(h, 6000);
    CHECK(a != NULL);
    void *b = pool_heap_malloc(h, 4000); /* exactly at the limit */
    CHECK(b != NULL);
    errno = 0;
    CHECK(pool_heap_malloc(h, 1) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(pool_heap_realloc_sized(h, b, 4000, 4001) == NULL && errno == ENOMEM);
    pool_heap_free_sized(h, b, 4000);
    void *c = pool_heap_malloc(h, 4000);
    CHECK(c != NULL);
    pool_stats_t st;
    CHECK(pool_heap_stats(h, &st) == 0 && st.live_bytes == 10000 && st.peak_bytes == 10000);
    /* Large requests are held to the limit too. */
    CHECK(pool_heap_set_limit(h, 1 << 20) == 10000);
    errno = 0;
    CHECK(pool_heap_malloc(h, 2 << 20) == NULL && errno == ENOMEM);
    void *d = pool_heap_malloc(h, (1 << 20) - 10000);
    CHECK(d != NULL);
    CHECK(pool_heap_stats(h, &st) == 0 && st.live_bytes == 1 << 20);
    pool_heap_free_sized(h, d, (1 << 20) - 10000);
    pool_heap_free_sized(h, a, 6000);
    pool_heap_free_sized(h, c, 4000);
    CHECK(pool_heap_stats(h, &st) == 0 && st.live_bytes == 0 && st.peak_bytes == 1 << 20);
    pool_heap_reset_peak(h);
    CHECK(pool_heap_stats(h, &st) == 0 && st.peak_bytes == 0);
    /* Removing the limit. */
    CHECK(pool_heap_set_limit(h, 0) == 1 << 20);
    void *e = pool_heap_malloc(h, 3 << 20);
    CHECK(e != NULL);
    pool_heap_free(h, e);
    pool_heap_destroy(h);
    /* Unsized heaps count usable bytes against the limit. */
    pool_heap_options_t u = { .limit = 1024 };
    h = pool_heap_new(&u);
    void *x = pool_heap_malloc(h, 1000); /* a 1024-byte block */
    CHECK(x != NULL && pool_usable_size(x) == 1024);
    CHECK(pool_heap_malloc(h, 1) == NULL && errno == ENOMEM);
    pool_heap_free(h, x);
    pool_heap_destroy(h);
}

/* Sized heaps count requested bytes exactly through every operation. */
static void test_sized_accounting(void) {
    pool_heap_options_t o = { .sized = 1, .name = "sized" };
    pool_heap_t *h = pool_heap_new(&o);
    size_t live = 0;
    char *ps[500];
    size_t ns[500];
    for (int i = 0; i < 500; i++) {
        ns[i] = (size_t)(i * 37 % 2000) + 1;
        ps[i] = pool_heap_malloc(h, ns[i]);
        memset(ps[i], i, ns[i]);
        live += ns[i];
    }
    pool_stats_t st;
    CHECK(pool_heap_stats(h, &st) == 0);
    CHECK_EQ(st.live_bytes, live);
    for (int i = 0; i < 500; i += 2) {
        size_t n = ns[i] * 3 + 200000 * (i % 50 == 0);
        char *q = pool_heap_realloc_sized(h, ps[i], ns[i], n);
        CHECK(q != NULL);
        for (size_t k = 0; k < ns[i]; k++) CHECK(q[k] == (char)i);
        live += n - ns[i];
        ps[i] = q;
        ns[i] = n;
        CHECK(pool_heap_stats(h, &st) == 0);
        CHECK_EQ(st.live_bytes, live);
    }
    /* Shrinks within a class stay in place. */
    char *p = pool_heap_malloc(h, 100);
    CHECK(pool_heap_realloc_sized(h, p, 100, 97) == p);
    CHECK(pool_heap_stats(h, &st) == 0);
    CHECK_EQ(st.live_bytes, live + 97);
    pool_heap_free_sized(h, p, 97);
    for (int i = 0; i < 500; i++) pool_heap_free_sized(h, ps[i], ns[i]);
    CHECK(pool_heap_stats(h, &st) == 0);
    CHECK_EQ(st.live_bytes, 0);
    CHECK_EQ(st.allocs, st.frees);
    pool_heap_destroy(h);
}

static void test_bad_args(void) {
    errno = 0;
    CHECK(pool_heap_malloc(NULL, 10) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(pool_heap_realloc(NULL, NULL, 10) == NULL && errno == EINVAL);
    CHECK(pool_heap_stats(NULL, NULL) == -1 && errno == EINVAL);
    pool_heap_destroy(NULL);
    pool_heap_t *h = pool_heap_new(NULL);
    CHECK(pool_heap_malloc(h, SIZE_MAX) == NULL && errno == ENOMEM);
    CHECK(pool_heap_calloc(h, SIZE_MAX, 2) == NULL && errno == ENOMEM);
    /* Blocks of the process pool are not the heap's. */
    void *p = pool_malloc(10);
    CHECK(pool_heap_of(p) == NULL);
    int local;
    CHECK(pool_heap_of(&local) == NULL);
    pool_free(p);
    pool_heap_destroy(h);
}

int main(void) {
    test_destroy_releases_everything();
    test_limit_exact();
    test_sized_accounting();
    test_bad_args();
    printf("test_heap: ok\n");
    return 0;
}
