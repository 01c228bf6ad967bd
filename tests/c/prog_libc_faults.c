/* prog_libc_faults.c -- memory misuse through the plain malloc API, for
** libpoolmalloc.so (LD_PRELOAD) fault tests.  argv[1] names the misuse;
** the address the report must name is printed on stdout first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The address the report must name, for the test. */
static void tell(const void *p) {
    printf("%p\n", p);
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "double-free")) {
        char *p = malloc(40);
        tell(p);
        free(p);
        free(p);
    } else if (!strcmp(what, "interior")) {
        char *p = malloc(64);
        tell(p + 16);
        free(p + 16);
    } else if (!strcmp(what, "overflow")) {     /* POOL_DEBUG=1: canary */
        char *p = malloc(30);
        tell(p);
        memset(p, 'x', 31);
        free(p);
    } else if (!strcmp(what, "realloc-overflow")) {
        char *p = malloc(50);
        tell(p);
        memset(p, 'x', 52);
        p = realloc(p, 500);
        free(p);
    } else if (!strcmp(what, "write-after-free")) {
        char *keep = malloc(100), *p = malloc(100);
        tell(p);
        free(p);
        p[60] = 'w';
        for (int i = 0; i < 10000; i++) free(malloc(100));
        free(keep);
    } else if (!strcmp(what, "leak")) {         /* POOL_STATS=1 at exit */
        for (int i = 0; i < 25; i++) {
            void *volatile p = malloc(200);
            (void)p;
        }
        void *volatile big = malloc(1 << 20);
        (void)big;
        printf("leaked\n");
        return 0;
    } else {
        fprintf(stderr, "usage: prog_libc_faults double-free|interior|overflow|realloc-overflow|write-after-free|leak\n");
        return 2;
    }
    printf("not detected\n");
    return 0;
}
