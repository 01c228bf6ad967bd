/*
** posix.c -- the POSIX and glibc aligned-allocation calls over
** pool_aligned_alloc, with the edge rules programs rely on (what a bad
** alignment or an overflowing size returns, and what happens to errno),
** so every face gets the same answers and the C tests can check them.
*/
#include "internal.h"

/* POSIX: EINVAL unless align is a power of two multiple of sizeof(void *);
** errors are returned, errno is left alone, *out untouched on failure. */
int pool_posix_memalign(void **out, size_t align, size_t n) {
    if (align < sizeof(void *) || (align & (align - 1))) return EINVAL;
    int saved = errno;
    void *p = pool_aligned_alloc(align, n);
    int err = p ? 0 : errno;
    errno = saved;
    if (!p) return err;
    *out = p;
    return 0;
}

/* glibc rounds a non-power-of-two alignment up to the next power of two,
** and fails with EINVAL only when that overflows; 0 means no alignment. */
void *pool_memalign(size_t align, size_t n) {
    if (align & (align - 1)) {
        if (align > SIZE_MAX / 2 + 1) {
            errno = EINVAL;
            return NULL;
        }
        size_t a = 1;
        while (a < align) a <<= 1;
        align = a;
    }
    return pool_aligned_alloc(align ? align : 1, n);
}

void *pool_valloc(size_t n) { return pool_aligned_alloc(PA_OS_PAGE, n); }

/* Whole pages: the size rounds up (0 becomes one page); ENOMEM when the
** rounding overflows. */
void *pool_pvalloc(size_t n) {
    size_t page = PA_OS_PAGE;
    if (n > SIZE_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = (n + page - 1) & ~(page - 1);
    return pool_aligned_alloc(page, rounded ? rounded : page);
}
