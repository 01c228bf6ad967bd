/* test_posix.c -- the POSIX and glibc aligned calls of libpool (posix.c):
** posix_memalign's EINVAL rules and errno, memalign's rounding of odd
** alignments, valloc and pvalloc on the OS page size, pool_is_block. */
#include <stdint.h>
#include <unistd.h>

#include "check.h"

static size_t page;

/* Fill and verify a block, so a short or overlapping one shows. */
static void use(void *p, size_t n, int c) {
    memset(p, c, n);
    for (size_t i = 0; i < n; i += 97) CHECK(((unsigned char *)p)[i] == (unsigned char)c);
    CHECK(((unsigned char *)p)[n - 1] == (unsigned char)c);
}

static void test_posix_memalign(void) {
    void *p = (void *)1;
    static const size_t bad[] = { 0, 1, 2, 4, sizeof(void *) / 2, 24, 48, 3 * sizeof(void *), SIZE_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        errno = 1234;
        CHECK_EQ(pool_posix_memalign(&p, bad[i], 16), EINVAL);
        CHECK(p == (void *)1);          /* untouched */
        CHECK_EQ(errno, 1234);          /* errors are returned, not set */
    }
    for (size_t a = sizeof(void *); a <= ((size_t)1 << 22); a <<= 1) {
        errno = 1234;
        CHECK_EQ(pool_posix_memalign(&p, a, 100), 0);
        CHECK(((uintptr_t)p & (a - 1)) == 0 && pool_is_block(p) && pool_usable_size(p) >= 100);
        CHECK_EQ(errno, 1234);
        use(p, 100, (int)a);
        pool_free(p);
    }
    p = (void *)1;
    errno = 1234;
    CHECK_EQ(pool_posix_memalign(&p, 64, SIZE_MAX - 10), ENOMEM);
    CHECK(p == (void *)1 && errno == 1234);
    CHECK_EQ(pool_posix_memalign(&p, 16, 0), 0);     /* 0 bytes: a unique block */
    CHECK(p && pool_is_block(p));
    pool_free(p);
}

static void test_memalign(void) {
    /* An odd alignment rounds up to the next power of two. */
    static const size_t odd[][2] = { { 3, 4 }, { 24, 32 }, { 100, 128 }, { 4097, 8192 }, { 0, 1 } };
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        char *p = pool_memalign(odd[i][0], 300);
        CHECK(p && ((uintptr_t)p & (odd[i][1] - 1)) == 0);
        use(p, 300, (int)i + 1);
        pool_free(p);
    }
    errno = 0;
    CHECK(pool_memalign(SIZE_MAX / 2 + 2, 16) == NULL && errno == EINVAL);   /* rounding overflows */
    errno = 0;
    CHECK(pool_memalign(64, SIZE_MAX - 10) == NULL && errno == ENOMEM);
}

static void test_valloc_pvalloc(void) {
    char *v = pool_valloc(10);
    CHECK(v && ((uintptr_t)v & (page - 1)) == 0);
    use(v, 10, 'v');
    pool_free(v);
    /* pvalloc: whole pages, 0 becomes one page. */
    static const size_t sizes[] = { 0, 1, 4095, 4096, 4097, 3 * 65536 + 1 };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t want = sizes[i] ? (sizes[i] + page - 1) / page * page : page;
        char *p = pool_pvalloc(sizes[i]);
        CHECK(p && ((uintptr_t)p & (page - 1)) == 0 && pool_usable_size(p) >= want);
        use(p, want, (int)i + 'a');
        pool_free(p);
    }
    errno = 0;
    CHECK(pool_pvalloc(SIZE_MAX - page / 2) == NULL && errno == ENOMEM);   /* rounding overflows */
    errno = 0;
    CHECK(pool_valloc(SIZE_MAX - 10) == NULL && errno == ENOMEM);
}

static void test_is_block(void) {
    int on_stack = 0;
    char *p = pool_malloc(48), *q = pool_malloc(1 << 20);
    CHECK(pool_is_block(p) && pool_is_block(q));
    CHECK(!pool_is_block(p + 16) && !pool_is_block(q + 4096));   /* interior pointers */
    CHECK(!pool_is_block(&on_stack) && !pool_is_block(NULL));
    void *m = malloc(48);                                        /* another allocator's */
    CHECK(!pool_is_block(m));
    free(m);
    pool_free(p);
    pool_free(q);
}

int main(void) {
    long v = sysconf(_SC_PAGESIZE);
    CHECK(v > 0);
    page = (size_t)v;
    test_posix_memalign();
    test_memalign();
    test_valloc_pvalloc();
    test_is_block();
    puts("test_posix: ok");
    return 0;
}
