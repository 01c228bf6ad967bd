/*
** preload.c -- libpoolmalloc.so: libpool as the process's malloc.
** LD_PRELOAD it (or link it first) and the whole malloc family, glibc's
** __libc_* aliases and C++'s operators (preload_cxx.cc) go to libpool.
**
** Safe from the first instruction: libpool needs no allocation and no dlsym
** to start, its thread-local heap pointer is initial-exec TLS, and before
** it is initialised its fast paths fall through to a slow path that
** initialises it.  Environment: POOL_STATS=1 prints the stats report to
** stderr at exit; POOL_DEBUG=1 is read by libpool itself.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

#define EXPORT __attribute__((visibility("default")))
#define OS_PAGE 4096

EXPORT void *malloc(size_t n) { return pool_malloc(n); }
EXPORT void *calloc(size_t count, size_t n) { return pool_calloc(count, n); }

/* pool_free keeps errno, as programs expect of free. */
EXPORT void free(void *p) { pool_free(p); }

EXPORT void cfree(void *p) { free(p); }

/* glibc: realloc(p, 0) frees p and returns NULL. */
EXPORT void *realloc(void *p, size_t n) {
    if (p && n == 0) {
        free(p);
        return NULL;
    }
    return pool_realloc(p, n);
}

EXPORT void *reallocarray(void *p, size_t count, size_t n) {
    size_t total;
    if (__builtin_mul_overflow(count, n, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

/* POSIX: EINVAL unless align is a power of two multiple of sizeof(void *);
** errors are returned, errno is left alone. */
EXPORT int posix_memalign(void **out, size_t align, size_t n) {
    if (align < sizeof(void *) || (align & (align - 1))) return EINVAL;
    int saved = errno;
    void *p = pool_aligned_alloc(align, n);
    int err = p ? 0 : errno;
    errno = saved;
    if (!p) return err;
    *out = p;
    return 0;
}

/* C11: a power-of-two alignment (glibc also takes any size). */
EXPORT void *aligned_alloc(size_t align, size_t n) { return pool_aligned_alloc(align, n); }

/* glibc rounds a non-power-of-two alignment up to the next power of two,
** and fails with EINVAL only when that overflows. */
EXPORT void *memalign(size_t align, size_t n) {
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

EXPORT void *valloc(size_t n) { return pool_aligned_alloc(OS_PAGE, n); }

/* pvalloc rounds the size up to whole pages (0 becomes one page). */
EXPORT void *pvalloc(size_t n) {
    if (n > SIZE_MAX - OS_PAGE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = (n + OS_PAGE - 1) & ~(size_t)(OS_PAGE - 1);
    return pool_aligned_alloc(OS_PAGE, rounded ? rounded : OS_PAGE);
}

/* Only our blocks have a size we can tell; anything else is 0, as glibc
** says for NULL. */
EXPORT size_t malloc_usable_size(void *p) { return p && pool_owns(p) ? pool_usable_size(p) : 0; }

EXPORT void *__libc_malloc(size_t n) { return malloc(n); }
EXPORT void __libc_free(void *p) { free(p); }
EXPORT void *__libc_calloc(size_t count, size_t n) { return calloc(count, n); }
EXPORT void *__libc_realloc(void *p, size_t n) { return realloc(p, n); }
EXPORT void *__libc_memalign(size_t align, size_t n) { return memalign(align, n); }
EXPORT void *__libc_valloc(size_t n) { return valloc(n); }
EXPORT void *__libc_pvalloc(size_t n) { return pvalloc(n); }

/* POOL_STATS=1: the report at exit, on a copy of stderr taken at start-up
** (programs such as coreutils close stderr in their atexit handlers).  A
** destructor of this library runs after the program's atexit handlers, so
** the live blocks it shows are the program's leaks. */
static int report_fd = -1;

__attribute__((constructor)) static void preload_init(void) {
    const char *s = getenv("POOL_STATS");
    if (s && *s && *s != '0') report_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
}

__attribute__((destructor)) static void preload_report(void) {
    if (report_fd < 0) return;
    pool_stats_t st;
    static char buf[16384];
    if (pool_stats(&st) != 0) return;
    size_t n = pool_stats_report(&st, buf, sizeof buf);
    if (n >= sizeof buf) n = sizeof buf - 1;
    static const char head[] = "poolalloc: POOL_STATS report at exit (live blocks are leaks)\n";
    ssize_t w = write(report_fd, head, sizeof head - 1);
    w = write(report_fd, buf, n);
    (void)w;
}
