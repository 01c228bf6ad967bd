/* test_sized.c -- the Lua fast path (pool_heap_lua_alloc, sized.c): a
** freed block comes back for the next request of its class, the heap's
** stats stay exact with blocks kept (live bytes, per-class live blocks,
** allocs, frees, tags), the limit holds on the fast path and on realloc,
** realloc stays in place within a class and keeps the contents across
** classes, flush gives the blocks back, and debug heaps keep nothing. */
#include <errno.h>
#include <string.h>

#include "check.h"

#define LA(h, p, o, n) pool_heap_lua_alloc((h), (p), (o), (n))

static pool_heap_t *lua_heap(size_t limit, int debug) {
    pool_heap_options_t o = { .limit = limit, .debug = debug, .sized = 1, .name = "lua" };
    pool_heap_t *h = pool_heap_new(&o);
    CHECK(h != NULL);
    return h;
}

static pool_stats_t stats_of(pool_heap_t *h) {
    pool_stats_t st;
    CHECK(pool_heap_stats(h, &st) == 0);
    return st;
}

static void test_reuse_and_exact_stats(void) {
    pool_heap_t *h = lua_heap(0, 0);
    void *a = LA(h, NULL, 5, 40), *b = LA(h, NULL, 4, 100);
    CHECK(a && b);
    pool_stats_t st = stats_of(h);
    CHECK_EQ(st.live_bytes, 140);
    CHECK_EQ(st.tags[5], 1);
    CHECK_EQ(st.tags[4], 1);
    CHECK(LA(h, a, 40, 0) == NULL);
    st = stats_of(h);
    CHECK_EQ(st.live_bytes, 100);
    CHECK_EQ(st.classes[2].live_blocks, 0);     /* 48-byte class: the kept block counts free */
    CHECK(st.classes[2].free_blocks > 0);
    CHECK_EQ(st.allocs - st.frees, 1);
    void *c = LA(h, NULL, 5, 33);               /* same class: the same block */
    CHECK(c == a);
    st = stats_of(h);
    CHECK_EQ(st.live_bytes, 133);
    CHECK_EQ(st.tags[5], 2);
    CHECK_EQ(st.classes[2].live_blocks, 1);
    CHECK_EQ(st.peak_bytes, 140);
    void *d = LA(h, NULL, 99, 20);              /* tags past POOL_NTAGS count as 0 */
    CHECK(d != NULL && stats_of(h).tags[0] == 1);
    LA(h, d, 20, 0);
    LA(h, c, 33, 0);
    LA(h, b, 100, 0);
    st = stats_of(h);
    CHECK_EQ(st.live_bytes, 0);
    CHECK_EQ(st.allocs, st.frees);
    for (unsigned k = 0; k < st.nclasses; k++) CHECK_EQ(st.classes[k].live_blocks, 0);
    CHECK(pool_heap_lua_flush(h) == 3);
    CHECK(pool_heap_lua_flush(h) == 0);
    st = stats_of(h);
    CHECK_EQ(st.live_bytes, 0);
    CHECK_EQ(st.allocs, st.frees);
    pool_heap_destroy(h);
}

static void test_limit(void) {
    pool_heap_t *h = lua_heap(1000, 0);
    void *a = LA(h, NULL, 0, 950);
    CHECK(a != NULL);
    LA(h, a, 950, 0);                           /* kept */
    void *b = LA(h, NULL, 0, 1000);             /* at the limit, from the list */
    CHECK(b == a);
    errno = 0;
    CHECK(LA(h, NULL, 0, 1) == NULL && errno == ENOMEM);
    LA(h, b, 1000, 0);
    void *c = LA(h, NULL, 0, 900);
    CHECK(c == a);
    errno = 0;
    CHECK(LA(h, c, 900, 1001) == NULL && errno == ENOMEM);   /* in-class growth past the limit */
    CHECK_EQ(stats_of(h).live_bytes, 900);
    CHECK(LA(h, c, 900, 1000) == c);
    CHECK_EQ(stats_of(h).live_bytes, 1000);
    LA(h, c, 1000, 0);
    CHECK_EQ(stats_of(h).live_bytes, 0);
    pool_heap_destroy(h);
}

static void test_realloc(void) {
    pool_heap_t *h = lua_heap(0, 0);
    char *p = LA(h, NULL, 4, 10);
    LA(h, LA(h, NULL, 4, 10), 10, 0);           /* opens the cache */
    memcpy(p, "0123456789", 10);
    CHECK(LA(h, p, 10, 16) == p);               /* same class: in place */
    CHECK_EQ(stats_of(h).live_bytes, 16);
    char *q = LA(h, p, 16, 300);                /* another class: moved, contents kept */
    CHECK(q != NULL && memcmp(q, "0123456789", 10) == 0);
    CHECK_EQ(stats_of(h).live_bytes, 300);
    char *r = LA(h, q, 300, 5000);              /* past the small sizes */
    CHECK(r != NULL && memcmp(r, "0123456789", 10) == 0);
    CHECK_EQ(stats_of(h).live_bytes, 5000);
    r = LA(h, r, 5000, 8);
    CHECK(r != NULL && memcmp(r, "01234567", 8) == 0);
    CHECK_EQ(stats_of(h).live_bytes, 8);
    LA(h, r, 8, 0);
    pool_stats_t st = stats_of(h);
    CHECK_EQ(st.live_bytes, 0);
    CHECK_EQ(st.allocs, st.frees);
    pool_heap_destroy(h);
}

/* A class keeps a bounded number of blocks; a debug heap keeps none. */
static void test_bounds_and_debug(void) {
    pool_heap_t *h = lua_heap(0, 0);
    enum { N = 5000 };
    static void *v[N];
    for (int i = 0; i < N; i++) CHECK((v[i] = LA(h, NULL, 0, 64)) != NULL);
    for (int i = 0; i < N; i++) LA(h, v[i], 64, 0);
    CHECK_EQ(pool_heap_lua_flush(h), 64 * 1024 / 64);
    pool_heap_destroy(h);
    pool_heap_t *d = lua_heap(0, 1);
    void *a = LA(d, NULL, 0, 24);
    LA(d, a, 24, 0);
    CHECK_EQ(pool_heap_lua_flush(d), 0);
    CHECK_EQ(stats_of(d).live_bytes, 0);
    pool_heap_destroy(d);
}

int main(void) {
    test_reuse_and_exact_stats();
    test_limit();
    test_realloc();
    test_bounds_and_debug();
    printf("test_sized: ok\n");
    return 0;
}
