/* prog_pool_tools.c -- misuse of pool blocks for valgrind memcheck and
** ASan to see (libpool built with POOL_VALGRIND or under ASan): argv[1]
** names the case; "clean" and "leak" are otherwise error-free. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

static char *volatile sink, *kept;

/* A block nobody points at once this returns.  Not the first block of a
** fresh page: the page descriptor's `start` points there, and memcheck
** would call that block still reachable. */
__attribute__((noinline)) static void leak_one(size_t n) {
    kept = pool_malloc(n);
    char *p = pool_malloc(n);
    memset(p, 1, n);
    sink = p;
    sink = NULL;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    volatile char c = 0;
    if (!strcmp(what, "use-after-free")) {
        char *p = pool_malloc(48);
        memset(p, 7, 48);
        pool_free(p);
        c = p[8];                               /* Invalid read of size 1 */
    } else if (!strcmp(what, "write-after-free")) {
        char *keep = pool_malloc(48), *p = pool_malloc(48);
        pool_free(p);
        p[8] = 1;                               /* Invalid write of size 1 */
        pool_free(keep);
    } else if (!strcmp(what, "overflow")) {
        char *p = pool_malloc(64), *q = pool_malloc(64);
        pool_free(q);                           /* the next block is free */
        p[pool_usable_size(p)] = 1;             /* Invalid write of size 1 */
        pool_free(p);
    } else if (!strcmp(what, "uninit")) {
        char *p = pool_malloc(64);
        if (p[10] == 42) puts("42");            /* depends on uninitialised value */
        pool_free(p);
    } else if (!strcmp(what, "clean") || !strcmp(what, "leak")) {
        char *keep[100];
        for (int i = 0; i < 100; i++) {
            keep[i] = i % 2 ? pool_calloc(1, 10 + i * 37) : pool_malloc(10 + i * 37);
            memset(keep[i], i, 10 + i * 37);
        }
        for (int i = 0; i < 100; i++) keep[i] = pool_realloc(keep[i], 20 + i * 50);
        for (int i = 0; i < 100; i++) c += keep[i][5], pool_free(keep[i]);
        if (!strcmp(what, "leak")) leak_one(100), pool_free(kept);
    } else {
        fprintf(stderr, "usage: prog_pool_tools use-after-free|write-after-free|overflow|uninit|clean|leak\n");
        return 2;
    }
    printf("done %d\n", c);
    return 0;
}
