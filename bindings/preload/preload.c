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

/* The aligned calls and their POSIX/glibc edge rules live in libpool
** (posix.c). */
EXPORT int posix_memalign(void **out, size_t align, size_t n) { return pool_posix_memalign(out, align, n); }

/* C11: a power-of-two alignment (glibc also takes any size). */
EXPORT void *aligned_alloc(size_t align, size_t n) { return pool_aligned_alloc(align, n); }
EXPORT void *memalign(size_t align, size_t n) { return pool_memalign(align, n); }
EXPORT void *valloc(size_t n) { return pool_valloc(n); }
EXPORT void *pvalloc(size_t n) { return pool_pvalloc(n); }

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
