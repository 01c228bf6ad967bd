/* test_faults.c -- detected memory corruption aborts with one line naming
** the fault, the address and the block size.  Each case runs in a forked
** child; the parent checks the signal and the exact line. */
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static void case_double_free(void) {
    char *p = pool_malloc(40);
    pool_free(p);
    pool_free(p);
}
static void case_double_free_remote_list(void) {
    /* The second free comes after other frees, through the slow path. */
    char *p = pool_malloc(100), *q = pool_malloc(100);
    pool_free(p);
    pool_free(q);
    pool_free(p);
}
static void case_interior(void) {
    char *p = pool_malloc(64);
    pool_free(p + 8);
}
static void case_interior_large(void) {
    char *p = pool_malloc(1 << 20);
    pool_free(p + 4096);
}
static void case_foreign(void) {
    static char buf[64];
    pool_free(buf);
}
static void case_foreign_malloc(void) {
    char *p = malloc(32);
    pool_free(p);
}
static void case_corrupt_list(void) {
    /* Overwrite a free block's encoded link: the forged pointer is caught
    ** before it is ever followed. */
    uintptr_t *p = pool_malloc(48), *q = pool_malloc(48);
    pool_free(q);
    pool_free(p);
    p[0] = (uintptr_t)0x4141414141414141ull;
    void *a = pool_malloc(48);
    void *b = pool_malloc(48);
    (void)a; (void)b;
}
static void case_debug_overflow(void) {
    pool_heap_options_t o = { .debug = 1 };
    pool_heap_t *h = pool_heap_new(&o);
    char *p = pool_heap_malloc(h, 30);
    p[30] = 'X'; /* one byte past the request */
    pool_heap_free(h, p);
}
static void case_debug_use_after_free(void) {
    pool_heap_options_t o = { .debug = 1 };
    pool_heap_t *h = pool_heap_new(&o);
    char *p = pool_heap_malloc(h, 100);
    pool_heap_free(h, p);
    p[50] = 'Y'; /* write after free */
    for (int i = 0; i < 10000; i++) pool_heap_free(h, pool_heap_malloc(h, 100));
}
static void case_debug_double_free(void) {
    pool_heap_options_t o = { .debug = 1 };
    pool_heap_t *h = pool_heap_new(&o);
    char *p = pool_heap_malloc(h, 10);
    pool_heap_free(h, p);
    pool_heap_free(h, p);
}
static void case_env_debug_overflow(void) {
    /* POOL_DEBUG=1 is set by the parent for this case only. */
    char *p = pool_malloc(64);
    memset(p, 'z', 70);
    pool_free(p);
}
static void case_debug_large_overflow(void) {
    pool_heap_options_t o = { .debug = 1 };
    pool_heap_t *h = pool_heap_new(&o);
    char *p = pool_heap_malloc(h, 300000);
    p[300000] = 1;
    pool_heap_free(h, p);
}

/* Under ASan, pool blocks are poisoned when free and past their request in
** debug mode, so ASan reports these accesses itself before libpool can. */
#if defined(__SANITIZE_ADDRESS__)
#define ASAN_FIRST 1
#else
#define ASAN_FIRST 0
#endif

typedef struct { const char *name; void (*fn)(void); const char *line; int debug_env; int asan_first; } fault_case_t;

static const fault_case_t cases[] = {
    { "double free", case_double_free, "poolalloc: double free of %s (48-byte block)\n", 0, 0 },
    { "double free after others", case_double_free_remote_list, "poolalloc: double free of %s (112-byte block)\n", 0, 0 },
    { "interior pointer", case_interior, "poolalloc: free of an interior pointer %s (64-byte block)\n", 0, 0 },
    { "interior pointer, large", case_interior_large, "poolalloc: free of an interior pointer %s (1052608-byte block)\n", 0, 0 },
    { "foreign (static)", case_foreign, "poolalloc: free of a pointer not allocated by poolalloc: %s\n", 0, 0 },
    { "foreign (malloc)", case_foreign_malloc, "poolalloc: free of a pointer not allocated by poolalloc: %s\n", 0, 0 },
    { "corrupted free list", case_corrupt_list, "poolalloc: corrupted free list in page", 0, ASAN_FIRST },
    { "debug overflow", case_debug_overflow, "poolalloc: heap buffer overflow past %s (30-byte block)\n", 0, ASAN_FIRST },
    { "debug write after free", case_debug_use_after_free, "poolalloc: write after free to %s (128-byte block)\n", 0, ASAN_FIRST },
    { "debug double free", case_debug_double_free, "poolalloc: double free of %s (32-byte block)\n", 0, 0 },
    { "POOL_DEBUG overflow", case_env_debug_overflow, "poolalloc: heap buffer overflow past %s (64-byte block)\n", 1, ASAN_FIRST },
    { "debug large overflow", case_debug_large_overflow, "poolalloc: heap buffer overflow past %s (300000-byte block)\n", 0, 0 },
};

int main(void) {
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const fault_case_t *c = &cases[i];
        int fd[2];
        CHECK(pipe(fd) == 0);
        pid_t pid = fork();
        if (pid == 0) {
            if (c->debug_env) {
                /* A fresh process image so libpool reads POOL_DEBUG at init. */
                char idx[16];
                snprintf(idx, sizeof idx, "%zu", i);
                setenv("POOL_DEBUG", "1", 1);
                setenv("POOL_FAULT_CASE", idx, 1);
                dup2(fd[1], 2);
                execl("/proc/self/exe", "test_faults", (char *)NULL);
                _exit(99);
            }
            dup2(fd[1], 2);
            c->fn();
            _exit(0);
        }
        close(fd[1]);
        char buf[1024] = {0};
        ssize_t n = 0, r;
        while ((r = read(fd[0], buf + n, sizeof buf - 1 - (size_t)n)) > 0) n += r;
        close(fd[0]);
        int status;
        waitpid(pid, &status, 0);
        /* The address is the child's: take it from the line, then require
        ** the whole line to be exactly the expected one. */
        char want[256];
        const char *a = strstr(buf, "0x");
        char got_addr[64] = {0};
        if (a) sscanf(a, "%63[0-9a-fx]", got_addr);
        snprintf(want, sizeof want, c->line, got_addr);
        int ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strncmp(buf, want, strlen(want)) == 0 &&
                 strchr(buf, '\n') == buf + strlen(buf) - 1;
        if (c->asan_first)
            ok = !WIFEXITED(status) || WEXITSTATUS(status) != 0 ? strstr(buf, "AddressSanitizer: use-after-poison") != NULL : 0;
        printf("%-28s %s: %s", c->name, ok ? "ok" : "FAILED", buf[0] ? buf : "(no output)\n");
        if (!ok) { printf("   expected: %s\n", want); failed++; }
    }
    CHECK_EQ(failed, 0);
    return 0;
}

/* Re-entry for the POOL_DEBUG cases: run the case named by the env. */
__attribute__((constructor)) static void reenter(void) {
    const char *idx = getenv("POOL_FAULT_CASE");
    if (!idx) return;
    const fault_case_t *c = &cases[atoi(idx)];
    c->fn();
    _exit(0);
}
