/* test_faults.c -- detected memory corruption aborts with one line naming
** the fault, the address and the block size, in the default mode and under
** POOL_DEBUG=1.  Each case runs in a child: it prints the address it
** expects in the report on stdout, then commits the fault; the parent
** checks SIGABRT and that stderr is exactly the one expected line. */
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* The address the report must name, for the parent. */
static void tell(const void *p) {
    printf("%p\n", p);
    fflush(stdout);
}

/* A debug heap for the heap-option cases. */
static pool_heap_t *debug_heap(void) {
    pool_heap_options_t o = { .debug = 1 };
    pool_heap_t *h = pool_heap_new(&o);
    CHECK(h != NULL);
    return h;
}

/* ---- faults detected in both modes ---- */
static void case_double_free(void) {
    char *p = pool_malloc(40);
    tell(p);
    pool_free(p);
    pool_free(p);
}
static void case_double_free_block(void) {
    /* pool_free_block (the Python binding's free) checks like pool_free. */
    char *p = pool_malloc(40);
    tell(p);
    pool_free_block(p);
    pool_free_block(p);
}
static void case_double_free_after_others(void) {
    /* The second free comes after other frees of the same page. */
    char *p = pool_malloc(100), *q = pool_malloc(100);
    tell(p);
    pool_free(p);
    pool_free(q);
    pool_free(p);
}
static void case_double_free_large(void) {
    /* A large block's mapping is gone after its free: the map says so. */
    char *p = pool_malloc(1 << 20);
    tell(p);
    pool_free(p);
    pool_free(p);
}
/* realloc to a size its block keeps (in place when the block is live)
** makes the free's checks. */
static void case_realloc_freed(void) {
    char *p = pool_malloc(40);
    tell(p);
    pool_free(p);
    p = pool_realloc(p, 44);
}
static void case_realloc_interior(void) {
    char *p = pool_malloc(64);
    tell(p + 16);
    p = pool_realloc(p + 16, 60);
}
static void case_interior(void) {
    char *p = pool_malloc(64);
    tell(p + 8);
    pool_free(p + 8);
}
static void case_interior_large(void) {
    char *p = pool_malloc(1 << 20);
    tell(p + 4096);
    pool_free(p + 4096);
}
static void case_foreign_static(void) {
    static char buf[64];
    tell(buf);
    pool_free(buf);
}
static void case_foreign_stack(void) {
    char buf[64];
    tell(buf);
    pool_free(buf);
}
static void case_foreign_malloc(void) {
    char *p = malloc(32);
    tell(p);
    pool_free(p);
}
static void case_foreign_realloc(void) {
    char *p = malloc(32);
    tell(p);
    p = pool_realloc(p, 64);
}
/* The page of pool block p, from the public page map. */
static uintptr_t page_of(const void *p) {
    size_t n = pool_page_map(NULL, 0);
    pool_page_info_t *pages = calloc(n + 16, sizeof *pages);
    n = pool_page_map(pages, n + 16);
    uintptr_t found = 0;
    for (size_t i = 0; i < n; i++)
        if ((uintptr_t)p >= pages[i].address && (uintptr_t)p < pages[i].address + pages[i].bytes) found = pages[i].address;
    free(pages);
    CHECK(found != 0);
    return found;
}
static void case_corrupt_list(void) {
    /* Overwrite a free block's encoded link: the forged pointer is caught
    ** before it is ever followed. */
    uintptr_t *p = pool_malloc(48), *q = pool_malloc(48);
    tell((void *)page_of(p));
    pool_free(q);
    pool_free(p);
    p[0] = (uintptr_t)0x4141414141414141ull;
    void *a = pool_malloc(48);
    void *b = pool_malloc(48);
    (void)a; (void)b;
}
static void case_corrupt_list_remote(void) {
    /* A forged link on a list of another thread's frees is caught when the
    ** owner collects them. */
    enum { N = 4096 };
    static uintptr_t *blocks[N];
    for (int i = 0; i < N; i++) blocks[i] = pool_malloc(48);
    uintptr_t *victim = blocks[N - 1];
    /* Free from a second heap's perspective: a first-class heap owns no
    ** page of these, so pool_heap_free defers them as remote frees. */
    pool_heap_t *other = pool_heap_new(NULL);
    for (int i = 0; i < N; i++) pool_heap_free(other, blocks[i]);
    victim[0] ^= 0x0000100000000000ull; /* a link now leaving the segment */
    tell(victim);
    for (int i = 0; i < 2 * N; i++) CHECK(pool_malloc(48) != NULL);
}

/* ---- debug-mode faults: canaries and poison ---- */
static void case_overflow_at_free(void) {
    char *p = pool_malloc(30);
    tell(p);
    p[30] = 'X'; /* one byte past the request */
    pool_free(p);
}
static void case_overflow_at_realloc(void) {
    char *p = pool_malloc(64);
    tell(p);
    memset(p, 'z', 70);
    p = pool_realloc(p, 200);
}
static void case_write_after_free(void) {
    char *keep = pool_malloc(100), *p = pool_malloc(100);
    tell(p);
    pool_free(p);
    p[50] = 'Y'; /* write after free */
    for (int i = 0; i < 10000; i++) pool_free(pool_malloc(100));
    pool_free(keep);
}
static void case_heap_overflow_at_free(void) {
    pool_heap_t *h = debug_heap();
    char *p = pool_heap_malloc(h, 30);
    tell(p);
    p[30] = 'X';
    pool_heap_free(h, p);
}
static void case_heap_overflow_at_realloc(void) {
    pool_heap_t *h = debug_heap();
    char *p = pool_heap_malloc(h, 24);
    tell(p);
    p[24] = 'X';
    p = pool_heap_realloc(h, p, 25);
}
static void case_heap_write_after_free(void) {
    pool_heap_t *h = debug_heap();
    char *keep = pool_heap_malloc(h, 100), *p = pool_heap_malloc(h, 100);
    tell(p);
    pool_heap_free(h, p);
    p[99] = 'Y';
    for (int i = 0; i < 10000; i++) pool_heap_free(h, pool_heap_malloc(h, 100));
    pool_heap_free(h, keep);
}
static void case_heap_double_free(void) {
    pool_heap_t *h = debug_heap();
    char *p = pool_heap_malloc(h, 10);
    tell(p);
    pool_heap_free(h, p);
    pool_heap_free(h, p);
}
static void case_heap_double_destroy(void) {
    /* A second destroy would put the heap struct on the recycle list twice. */
    pool_heap_t *h = pool_heap_new(NULL);
    CHECK(h != NULL);
    tell(h);
    pool_heap_destroy(h);
    pool_heap_destroy(h);
}
static void case_heap_large_overflow(void) {
    pool_heap_t *h = debug_heap();
    char *p = pool_heap_malloc(h, 300000);
    tell(p);
    p[300000] = 1;
    pool_heap_free(h, p);
}

/* Modes a case runs in. */
enum { DEFAULT = 1, DEBUG = 2, BOTH = 3 };

/* `what` is the report's text before the address; the block size in each
** mode (0: the report has no size).  `bad_access`: the case touches memory
** that ASan has poisoned, so under ASan its report may come first. */
typedef struct {
    const char *name;
    void (*fn)(void);
    int modes;
    const char *what;
    size_t size_default, size_debug;
    int bad_access;
} fault_case_t;

#define NOT_OURS "free of a pointer not allocated by poolalloc:"
static const fault_case_t cases[] = {
    { "double free", case_double_free, BOTH, "double free of", 48, 64, 0 },
    { "double free via pool_free_block", case_double_free_block, BOTH, "double free of", 48, 64, 0 },
    { "double free after others", case_double_free_after_others, BOTH, "double free of", 112, 128, 0 },
    { "double free, large", case_double_free_large, BOTH, NOT_OURS, 0, 0, 0 },
    { "realloc of a freed block", case_realloc_freed, BOTH, "double free of", 48, 64, 0 },
    { "realloc of an interior pointer", case_realloc_interior, BOTH, "free of an interior pointer", 64, 80, 0 },
    { "interior pointer", case_interior, BOTH, "free of an interior pointer", 64, 80, 0 },
    { "interior pointer, large", case_interior_large, BOTH, "free of an interior pointer", 1052608, 1048576, 0 },
    { "foreign (static)", case_foreign_static, BOTH, NOT_OURS, 0, 0, 0 },
    { "foreign (stack)", case_foreign_stack, BOTH, NOT_OURS, 0, 0, 0 },
    { "foreign (malloc)", case_foreign_malloc, BOTH, NOT_OURS, 0, 0, 0 },
    { "foreign realloc (malloc)", case_foreign_realloc, BOTH, "realloc of a pointer not allocated by poolalloc:", 0, 0, 0 },
    /* In debug mode the freed block waits in the quarantine: the same
    ** write is a write after free there (the "write after free" case). */
    { "corrupted free list", case_corrupt_list, DEFAULT, "corrupted free list in page", 48, 64, 1 },
    { "corrupted remote free list", case_corrupt_list_remote, BOTH, "corrupted free list at", 48, 64, 1 },
    { "overflow at free", case_overflow_at_free, DEBUG, "heap buffer overflow past", 0, 30, 1 },
    { "overflow at realloc", case_overflow_at_realloc, DEBUG, "heap buffer overflow past", 0, 64, 1 },
    { "write after free", case_write_after_free, DEBUG, "write after free to", 0, 128, 1 },
    { "debug heap: overflow at free", case_heap_overflow_at_free, DEFAULT, "heap buffer overflow past", 30, 30, 1 },
    { "debug heap: overflow at realloc", case_heap_overflow_at_realloc, DEFAULT, "heap buffer overflow past", 24, 24, 1 },
    { "debug heap: write after free", case_heap_write_after_free, DEFAULT, "write after free to", 128, 128, 1 },
    { "debug heap: double free", case_heap_double_free, DEFAULT, "double free of", 32, 32, 0 },
    { "debug heap: large overflow", case_heap_large_overflow, DEFAULT, "heap buffer overflow past", 300000, 300000, 0 },
    { "heap destroyed twice", case_heap_double_destroy, BOTH, "pool_heap_destroy of a heap that is not live:", 0, 0, 0 },
};

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

/* Read all of fd into buf (NUL-terminated). */
static void slurp(int fd, char *buf, size_t cap) {
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0) n += (size_t)r;
    buf[n] = 0;
    close(fd);
}

/* Run case i in a fresh process image (POOL_DEBUG is read at init) and
** check its abort and its line.  Returns 1 when it is as expected. */
static int run_case(size_t i, int debug) {
    const fault_case_t *c = &cases[i];
    int out[2], err[2];
    CHECK(pipe(out) == 0 && pipe(err) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        char idx[16];
        snprintf(idx, sizeof idx, "%zu", i);
        if (debug) setenv("POOL_DEBUG", "1", 1);
        else unsetenv("POOL_DEBUG");
        setenv("POOL_FAULT_CASE", idx, 1);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execl("/proc/self/exe", "test_faults", (char *)NULL);
        _exit(99);
    }
    close(out[1]);
    close(err[1]);
    char told[128], got[4096], want[512];
    slurp(out[0], told, sizeof told);
    slurp(err[0], got, sizeof got);
    int status;
    waitpid(pid, &status, 0);
    told[strcspn(told, "\n")] = 0;
    size_t size = debug ? c->size_debug : c->size_default;
    if (size) snprintf(want, sizeof want, "poolalloc: %s %s (%zu-byte block)\n", c->what, told, size);
    else snprintf(want, sizeof want, "poolalloc: %s %s\n", c->what, told);
    int ok = told[0] && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strcmp(got, want) == 0;
    if (UNDER_ASAN && c->bad_access && !ok)
        ok = strstr(got, "ERROR: AddressSanitizer") != NULL && !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The first line of the report (an ASan report has many). */
    int first = (int)strcspn(got, "\n");
    printf("%-32s %-7s %s: %.*s\n", c->name, debug ? "debug" : "default", ok ? "ok" : "FAILED", first,
           got[0] ? got : "(no output)");
    if (!ok) printf("   expected: %s", want);
    fflush(stdout);
    return ok;
}

int main(void) {
    int failed = 0, ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (int debug = 0; debug <= 1; debug++)
            if (cases[i].modes & (debug ? DEBUG : DEFAULT)) {
                ran++;
                failed += !run_case(i, debug);
            }
    printf("%d fault cases, %d failed\n", ran, failed);
    CHECK_EQ(failed, 0);
    return 0;
}

/* Re-entry in the child: run the case named by the environment. */
__attribute__((constructor)) static void reenter(void) {
    const char *idx = getenv("POOL_FAULT_CASE");
    if (!idx) return;
    size_t i = (size_t)atoi(idx);
    CHECK(i < sizeof cases / sizeof *cases);
    cases[i].fn();
    _exit(0);
}
