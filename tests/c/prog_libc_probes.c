/* prog_libc_probes.c -- the hardening probe suite: each probe commits one
** memory error through the plain malloc API, in a small (64 B), medium
** (4 KiB) or large (256 KiB) block, then keeps using the allocator the way
** a program would (frees, new blocks of the same size), so that an
** allocator that checks anything gets the chance to see it.  The probe is
** "stopped" when the process dies of a signal; tests/test_probes.py runs
** every probe under glibc and under libpoolmalloc.so in both modes.
**
**   prog_libc_probes list             the probe names, one a line
**   prog_libc_probes NAME SIZE        run one probe (SIZE: small|medium|large)
**
** It prints the block's address first (the address a report must name)
** and "survived" last when nothing stopped it.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB ((size_t)1 << 20)

static size_t n;                    /* the block size of this run */
static char src[(256 << 10) + 64];  /* memcpy source */

/* The address a report must name. */
static void tell(const void *p) {
    printf("%p\n", p);
}

/* A program keeps going: new blocks of the same size (which walks the free
** list an overflow or a write after free may have corrupted), frees, and
** churn enough to cycle a quarantine. */
static void keep_going(void) {
    void *x[64];
    for (int i = 0; i < 64; i++) {
        x[i] = malloc(n);
        if (x[i]) memset(x[i], 'k', 16);
    }
    for (int i = 0; i < 64; i++) free(x[i]);
    for (int i = 0; i < 256; i++) {
        void *volatile y = malloc(n);
        free(y);
    }
}

/* Stores that the compiler may not drop or fold into one call. */
static void poke(char *p, long from, long to) {
    for (long i = from; i < to; i++) ((volatile char *)p)[i] = 'A';
}

static int probe(const char *what) {
    char *p = malloc(n);
    tell(p);
    memset(p, 'u', n);
    if (!strcmp(what, "overflow-1")) {
        poke(p, (long)n, (long)n + 1);
        free(p);
    } else if (!strcmp(what, "overflow-32")) {
        poke(p, (long)n, (long)n + 32);
        free(p);
    } else if (!strcmp(what, "overflow-memcpy")) {
        memcpy(p, src, n + 32);
        free(p);
    } else if (!strcmp(what, "overflow-1mib")) {
        poke(p, (long)(n + MIB), (long)(n + MIB) + 1);
        free(p);
    } else if (!strcmp(what, "underflow-1")) {
        poke(p, -1, 0);
        free(p);
    } else if (!strcmp(what, "underflow-32")) {
        poke(p, -32, 0);
        free(p);
    } else if (!strcmp(what, "underflow-memcpy")) {
        memcpy(p - 32, src, n + 32);
        free(p);
    } else if (!strcmp(what, "underflow-1mib")) {
        poke(p, -(long)MIB, -(long)MIB + 1);
        free(p);
    } else if (!strcmp(what, "uaf-write")) {           /* the freed block's first bytes */
        free(p);
        poke(p, 0, 16);
    } else if (!strcmp(what, "uaf-write-middle")) {
        free(p);
        poke(p, (long)n / 2, (long)n / 2 + 8);
    } else if (!strcmp(what, "uaf-write-reuse")) {     /* after it was handed out again */
        free(p);
        char *q = malloc(n);
        poke(p, (long)n / 2, (long)n / 2 + 8);
        free(q);
    } else if (!strcmp(what, "double-free-immediate")) {
        free(p);
        free(p);
    } else if (!strcmp(what, "double-free-delayed")) {
        free(p);
        keep_going();
        free(p);
    } else if (!strcmp(what, "double-free-interleaved")) {
        char *q = malloc(n);
        free(p);
        free(q);
        free(p);
    } else if (!strcmp(what, "invalid-free-stack")) {
        char buf[256];
        memset(buf, 's', sizeof buf);
        tell(buf + 16);
        free(buf + 16);
    } else if (!strcmp(what, "invalid-free-interior")) {
        free(p + 16);
    } else if (!strcmp(what, "invalid-free-unaligned")) {
        free(p + 1);
    } else if (!strcmp(what, "invalid-free-near")) {   /* just past the block */
        free(p + n + 16);
    } else if (!strcmp(what, "realloc-freed")) {
        free(p);
        p = realloc(p, n * 2);
        if (p) memset(p, 'r', n * 2);
        free(p);
    } else if (!strcmp(what, "realloc-freed-shrink")) {
        free(p);
        p = realloc(p, n / 2);
        free(p);
    } else if (!strcmp(what, "zero-read")) {           /* reads of a malloc(0) block */
        char *z = malloc(0);
        volatile char c = 0;
        for (int i = 0; i < 16; i++) c ^= ((volatile char *)z)[i];
        (void)c;
        free(z);
        free(p);
    } else if (!strcmp(what, "zero-write")) {
        char *z = malloc(0);
        poke(z, 0, 8);
        free(z);
        free(p);
    } else {
        return 2;
    }
    keep_going();
    return 0;
}

static const char *const probes[] = {
    "overflow-1", "overflow-32", "overflow-memcpy", "overflow-1mib",
    "underflow-1", "underflow-32", "underflow-memcpy", "underflow-1mib",
    "uaf-write", "uaf-write-middle", "uaf-write-reuse",
    "double-free-immediate", "double-free-delayed", "double-free-interleaved",
    "invalid-free-stack", "invalid-free-interior", "invalid-free-unaligned", "invalid-free-near",
    "realloc-freed", "realloc-freed-shrink", "zero-read", "zero-write",
};

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "list")) {
        for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) printf("%s\n", probes[i]);
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: prog_libc_probes list | NAME small|medium|large\n");
        return 2;
    }
    n = !strcmp(argv[2], "small") ? 64 : !strcmp(argv[2], "medium") ? 4096 : !strcmp(argv[2], "large") ? 256 << 10 : 0;
    if (!n) return 2;
    memset(src, 'A', sizeof src);
    setvbuf(stdout, NULL, _IONBF, 0);   /* no stdio buffer beside the probe's block */
    int rc = probe(argv[1]);
    if (rc) {
        fprintf(stderr, "prog_libc_probes: no probe %s\n", argv[1]);
        return rc;
    }
    printf("survived\n");
    return 0;
}
