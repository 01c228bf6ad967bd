/*
** prog_libc_preload.c -- the malloc family as any program calls it, for
** tests/test_preload.py, which runs each mode with and without
** LD_PRELOAD=libpoolmalloc.so.  Modes print what they find; "badinput" and
** "threads" print the same under glibc and libpool, so the test compares
** the two outputs line by line.  libpool's own functions are looked up
** with dlsym: they exist only when libpoolmalloc.so is preloaded.
**
**   prog_libc_preload badinput    glibc-style errors for impossible requests
**   prog_libc_preload libc        libc's own allocations: whose are they?
**   prog_libc_preload fork N      fork N times while threads allocate
**   prog_libc_preload reclaim N   N short-lived threads: reserved bytes stay bounded
**   prog_libc_preload threads     8 threads hand blocks to each other
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pool.h"   /* types only: nothing here links libpool */

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

/* What libpool is loaded, or NULL under glibc. */
static int (*owns)(const void *);

static void lookup_pool(void) { owns = (int (*)(const void *))dlsym(RTLD_DEFAULT, "pool_owns"); }

/* Print "name: NULL errno=E" or "name: ok" for a pointer result. */
static void say_ptr(const char *name, void *p, int err) {
    if (p) printf("%s: ok\n", name);
    else printf("%s: NULL %s\n", name, err == ENOMEM ? "ENOMEM" : err == EINVAL ? "EINVAL" : strerror(err));
}

/* Print what a posix_memalign call returned (its result, not errno). */
static void say_rc(const char *name, int rc, void *p) {
    printf("%s: %s\n", name, rc == 0 ? (p ? "0" : "0 but NULL") : rc == EINVAL ? "EINVAL" : rc == ENOMEM ? "ENOMEM" : strerror(rc));
}

#define TRY(name, expr) do { errno = 0; void *p_ = (expr); int e_ = errno; say_ptr(name, p_, e_); free(p_); } while (0)

static int mode_badinput(void) {
    size_t huge = SIZE_MAX, half = SIZE_MAX / 2 + 1;
    TRY("malloc(SIZE_MAX)", malloc(huge));
    TRY("malloc(SIZE_MAX/2+1)", malloc(half));
    TRY("malloc(SIZE_MAX-4095)", malloc(huge - 4095));
    TRY("calloc(SIZE_MAX/2+1, 2)", calloc(half, 2));
    TRY("calloc(2, SIZE_MAX/2+1)", calloc(2, half));
    TRY("calloc(65536, 65537*65536)", calloc(65536, (size_t)65537 * 65536 * 65536));
    TRY("valloc(SIZE_MAX)", valloc(huge));
    TRY("pvalloc(SIZE_MAX)", pvalloc(huge));
    TRY("memalign(64, SIZE_MAX)", memalign(64, huge));
    TRY("aligned_alloc(64, SIZE_MAX-32)", aligned_alloc(64, huge - 32));
    TRY("aligned_alloc(4096, 4096)", aligned_alloc(4096, 4096));
    TRY("__libc_malloc(SIZE_MAX)", __libc_malloc(huge));
    TRY("__libc_calloc(SIZE_MAX/2+1, 2)", __libc_calloc(half, 2));
    TRY("__libc_memalign(64, SIZE_MAX)", __libc_memalign(64, huge));

    TRY("__libc_valloc(SIZE_MAX)", __libc_valloc(huge));
    TRY("__libc_pvalloc(SIZE_MAX)", __libc_pvalloc(huge));
    TRY("realloc(NULL, SIZE_MAX)", realloc(NULL, huge));
    TRY("reallocarray(NULL, SIZE_MAX/2+1, 2)", reallocarray(NULL, half, 2));
    TRY("reallocarray(NULL, 1<<32, 1<<32)", reallocarray(NULL, (size_t)1 << 32, (size_t)1 << 32));
    TRY("calloc(0, SIZE_MAX)", calloc(0, huge));
    TRY("calloc(SIZE_MAX, 0)", calloc(huge, 0));
    TRY("pvalloc(SIZE_MAX-4095)", pvalloc(huge - 4095));
    TRY("memalign(SIZE_MAX/2+2, 16)", memalign(half + 1, 16));
    TRY("memalign(SIZE_MAX, 16)", memalign(huge, 16));
    TRY("memalign(4096, SIZE_MAX-4095)", memalign(4096, huge - 4095));
    TRY("aligned_alloc(SIZE_MAX/2+1, 16)", aligned_alloc(half, 16));
    TRY("aligned_alloc(SIZE_MAX/2+2, 16)", aligned_alloc(half + 1, 16));

    /* Odd alignments glibc 2.36 accepts (rounded up to a power of two) and
    ** sizes that are not multiples of the alignment. */
    static const size_t odd_aligns[] = { 0, 1, 3, 24, 100, 4097 };
    for (size_t i = 0; i < sizeof odd_aligns / sizeof *odd_aligns; i++) {
        size_t a = odd_aligns[i], want = 1;
        while (want < a) want <<= 1;
        for (int f = 0; f < 2; f++) {
            errno = 0;
            char *p = f ? aligned_alloc(a, 100) : memalign(a, 100);
            int e = errno;
            printf("%s(%zu, 100): %s", f ? "aligned_alloc" : "memalign", a,
                   p ? "ok" : e == EINVAL ? "NULL EINVAL" : e == ENOMEM ? "NULL ENOMEM" : "NULL ?");
            if (p) {
                memset(p, 1, 100);
                printf(", aligned to %zu: %s, usable >= 100: %s", want, (uintptr_t)p % want ? "no" : "yes",
                       malloc_usable_size(p) >= 100 ? "yes" : "no");
            }
            printf("\n");
            free(p);
        }
    }

    /* Zero sizes still give a distinct, freeable block. */
    TRY("valloc(0)", valloc(0));
    TRY("pvalloc(0)", pvalloc(0));
    TRY("memalign(64, 0)", memalign(64, 0));
    TRY("aligned_alloc(64, 0)", aligned_alloc(64, 0));
    TRY("calloc(0, 0)", calloc(0, 0));
    TRY("realloc(NULL, 0)", realloc(NULL, 0));
    TRY("__libc_pvalloc(1)", __libc_pvalloc(1));
    char *pv = pvalloc(1), *vv = valloc(1);
    printf("pvalloc(1): page aligned %s, usable >= 4096: %s; valloc(1): page aligned %s\n",
           (uintptr_t)pv % 4096 ? "no" : "yes", malloc_usable_size(pv) >= 4096 ? "yes" : "no",
           (uintptr_t)vv % 4096 ? "no" : "yes");
    memset(pv, 7, 4096);
    free(pv);
    free(vv);
    unsigned char *cz = calloc(1000, 3);
    size_t nonzero = 0;
    for (size_t i = 0; i < 3000; i++) nonzero += cz[i] != 0;
    printf("calloc(1000, 3): nonzero bytes %zu\n", nonzero);
    free(cz);

    /* A failed realloc leaves the block as it was. */
    char *b = malloc(100);
    memset(b, 'q', 100);
    errno = 0;
    void *r = realloc(b, huge);
    printf("realloc(p, SIZE_MAX): %s %s, block intact: %s\n", r ? "ok" : "NULL", errno == ENOMEM ? "ENOMEM" : "?",
           b[0] == 'q' && b[99] == 'q' ? "yes" : "no");
    errno = 0;
    r = reallocarray(b, half, 2);
    printf("reallocarray(p, SIZE_MAX/2+1, 2): %s %s, block intact: %s\n", r ? "ok" : "NULL",
           errno == ENOMEM ? "ENOMEM" : "?", b[50] == 'q' ? "yes" : "no");
    errno = 0;
    r = __libc_realloc(b, huge);
    printf("__libc_realloc(p, SIZE_MAX): %s %s\n", r ? "ok" : "NULL", errno == ENOMEM ? "ENOMEM" : "?");
    b = realloc(b, 5000);
    printf("realloc grow keeps contents: %s\n", b && b[0] == 'q' && b[99] == 'q' ? "yes" : "no");
    printf("realloc(p, 0): %s\n", realloc(b, 0) ? "not NULL" : "NULL");

    void *q = NULL;
    static const size_t bad_aligns[] = { 0, 1, 2, 4, 3, 24, 4097, (size_t)1 << 63 | 8 };
    for (size_t i = 0; i < sizeof bad_aligns / sizeof *bad_aligns; i++) {
        char name[64];
        snprintf(name, sizeof name, "posix_memalign(%#zx, 16)", bad_aligns[i]);
        errno = 0;
        q = (void *)1;
        int rc = posix_memalign(&q, bad_aligns[i], 16);
        say_rc(name, rc, q);
        printf("  errno untouched: %s\n", errno == 0 ? "yes" : "no");
    }
    int rc = posix_memalign(&q, 64, huge);
    say_rc("posix_memalign(64, SIZE_MAX)", rc, q);
    rc = posix_memalign(&q, 8, 24);
    say_rc("posix_memalign(8, 24)", rc, q);
    printf("  aligned: %s\n", ((uintptr_t)q & 7) == 0 ? "yes" : "no");
    free(q);
    rc = posix_memalign(&q, 1 << 16, 100);
    say_rc("posix_memalign(65536, 100)", rc, q);
    printf("  aligned: %s\n", ((uintptr_t)q & 0xffff) == 0 ? "yes" : "no");
    free(q);

    void *z1 = malloc(0), *z2 = malloc(0);
    printf("malloc(0) twice: %s\n", z1 && z2 && z1 != z2 ? "two unique pointers" : "?");
    free(z1);
    free(z2);
    char *u = malloc(100);
    printf("malloc_usable_size(malloc(100)) >= 100: %s\n", malloc_usable_size(u) >= 100 ? "yes" : "no");
    printf("malloc_usable_size(NULL): %zu\n", malloc_usable_size(NULL));
    char *big = malloc(1 << 22);
    void *libc = __libc_malloc(32);
    errno = 4242;
    free(u);
    free(big);
    free(NULL);
    __libc_free(libc);
    printf("free keeps errno: %s\n", errno == 4242 ? "yes" : "no");

    /* Every free path keeps errno: emptying whole pages (which a pool may
    ** hand back to the OS) and large blocks, freed in an order that empties
    ** pages one after another. */
    enum { NB = 6000 };
    static void *blocks[NB];
    for (int i = 0; i < NB; i++) blocks[i] = malloc(i % 10 == 0 ? 300000 : 16 + (size_t)(i % 5) * 1000);
    int kept = 1;
    for (int i = 0; i < NB; i++) {
        errno = 4243;
        free(blocks[i]);
        kept &= errno == 4243;
    }
    printf("free keeps errno over %d blocks: %s\n", NB, kept ? "yes" : "no");
    return 0;
}

/* libc's own allocations (strdup, getline, fopen, asprintf, open_memstream,
** get_current_dir_name) and every member of the family, __libc_* aliases
** included, come from the malloc that is loaded. */
static int mode_libc(void) {
    lookup_pool();
    char *s = strdup("poolalloc"), *line = NULL, *fmt = NULL, *ms = NULL;
    size_t cap = 0, mlen = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f || getline(&line, &cap, f) < 0) { perror("getline"); return 1; }
    if (asprintf(&fmt, "%s-%d", s, 42) < 0) return 1;
    FILE *m = open_memstream(&ms, &mlen);
    fprintf(m, "%0500d", 7);
    fclose(m);
    char *dir = get_current_dir_name();
    void *pm = NULL;
    if (posix_memalign(&pm, 128, 300)) return 1;
    void *ptrs[] = { s, line, f, fmt, ms, dir,
                     malloc(10), calloc(3, 7), realloc(NULL, 50), reallocarray(NULL, 9, 9), pm,
                     aligned_alloc(256, 256), memalign(64, 10), valloc(10), pvalloc(10),
                     __libc_malloc(10), __libc_calloc(2, 2), __libc_realloc(NULL, 20), __libc_memalign(32, 8),
                     __libc_valloc(1), __libc_pvalloc(1) };
    static const char *const names[] = { "strdup", "getline", "fopen", "asprintf", "open_memstream",
        "get_current_dir_name", "malloc", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
        "memalign", "valloc", "pvalloc", "__libc_malloc", "__libc_calloc", "__libc_realloc", "__libc_memalign",
        "__libc_valloc", "__libc_pvalloc" };
    enum { N = sizeof ptrs / sizeof *ptrs };
    _Static_assert(N == sizeof names / sizeof *names, "one name per pointer");
    for (int i = 0; i < N; i++)
        printf("%s: %s\n", names[i], !owns ? "glibc" : owns(ptrs[i]) ? "libpool" : "NOT libpool");
    fclose(f);
    for (int i = 0; i < N; i++)
        if (i != 2) free(ptrs[i]);
    return 0;
}

/* ---- fork while other threads allocate ---- */
static atomic_int stop;

/* Allocate and free across classes until told to stop. */
static void *churn(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *keep[64] = { 0 };
    while (!atomic_load(&stop)) {
        unsigned i = (seed = seed * 1103515245u + 12345u) >> 16;
        free(keep[i % 64]);
        size_t n = (i % 7 == 0) ? 200000 : 1 + i % 3000;
        keep[i % 64] = malloc(n);
        if (keep[i % 64]) memset(keep[i % 64], (int)i, n < 64 ? n : 64);
    }
    for (int i = 0; i < 64; i++) free(keep[i]);
    return NULL;
}

/* The child allocates in every class, checks, frees and exits. */
static int child_work(void) {
    char *p[40];
    for (int i = 0; i < 40; i++) {
        size_t n = (size_t)1 << (i % 20);
        if (!(p[i] = malloc(n))) return 2;
        memset(p[i], i, n);
    }
    for (int i = 0; i < 40; i++) {
        if (p[i][0] != (char)i) return 3;
        free(p[i]);
    }
    char *s = strdup("child");
    int ok = s && !strcmp(s, "child");
    free(s);
    return ok ? 0 : 4;
}

static int mode_fork(int n) {
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1));
    int bad = 0;
    for (int k = 0; k < n; k++) {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) _exit(child_work());
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "child %d: status %#x\n", k, st);
            bad++;
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    printf("forks: %d, failed children: %d\n", n, bad);
    return bad != 0;
}

/* ---- thread turnover ---- */
static void *short_life(void *arg) {
    (void)arg;
    void *p[200];
    for (int i = 0; i < 200; i++) p[i] = malloc(16 + (size_t)(i * 37) % 4000);
    for (int i = 0; i < 200; i += 2) free(p[i]);
    for (int i = 1; i < 200; i += 2) free(p[i]);
    void *keep = malloc(64);   /* freed by the main thread after the exit */
    return keep;
}

static uint64_t reserved_now(void) {
    void (*stats)(pool_stats_t *) = (void (*)(pool_stats_t *))dlsym(RTLD_DEFAULT, "pool_stats");
    pool_stats_t st;
    stats(&st);
    return st.reserved_bytes;
}

static int mode_reclaim(int n) {
    lookup_pool();
    if (!owns) { printf("not on libpool\n"); return 1; }
    uint64_t at[2] = { 0, 0 };
    for (int k = 0; k < n; k++) {
        pthread_t t;
        void *keep;
        if (pthread_create(&t, NULL, short_life, NULL) || pthread_join(t, &keep)) return 1;
        free(keep);
        if (k == n / 10) at[0] = reserved_now();
    }
    at[1] = reserved_now();
    printf("reserved after %d threads: %llu, after %d: %llu\n", n / 10 + 1, (unsigned long long)at[0], n,
           (unsigned long long)at[1]);
    return 0;
}

/* ---- 8 threads handing blocks to each other through a shared ring ---- */
enum { NT = 8, RING = 1024, PER = 50000 };
static void *ring[RING];
static size_t ring_len[RING];
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t bad_bytes[NT];

static void *handoff(void *arg) {
    size_t id = (size_t)(uintptr_t)arg;
    uint64_t bad = 0, rng = id * 2654435761u + 1;
    for (int i = 0; i < PER; i++) {
        rng = rng * 6364136223846793005u + 1442695040888963407u;
        size_t n = 1 + (rng >> 33) % 2048, slot = (rng >> 20) % RING;
        unsigned char *p = malloc(n);
        memset(p, (int)(n & 0xff), n);
        pthread_mutex_lock(&ring_lock);
        unsigned char *old = ring[slot];
        size_t oldn = ring_len[slot];
        ring[slot] = p;
        ring_len[slot] = n;
        pthread_mutex_unlock(&ring_lock);
        if (old) {
            for (size_t k = 0; k < oldn; k++) bad += old[k] != (unsigned char)(oldn & 0xff);
            free(old);   /* usually another thread's block */
        }
    }
    bad_bytes[id] = bad;
    return NULL;
}

static int mode_threads(void) {
    pthread_t t[NT];
    for (size_t i = 0; i < NT; i++) pthread_create(&t[i], NULL, handoff, (void *)(uintptr_t)i);
    uint64_t bad = 0;
    for (size_t i = 0; i < NT; i++) { pthread_join(t[i], NULL); bad += bad_bytes[i]; }
    size_t left = 0;
    for (size_t i = 0; i < RING; i++) {
        if (ring[i]) { left++; free(ring[i]); }
    }
    printf("threads: %d x %d blocks handed over, blocks left in the ring: %zu, corrupted bytes: %llu\n", NT, PER,
           left, (unsigned long long)bad);
    return bad != 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    int n = argc > 2 ? atoi(argv[2]) : 0;
    if (!strcmp(mode, "badinput")) return mode_badinput();
    if (!strcmp(mode, "libc")) return mode_libc();
    if (!strcmp(mode, "fork") && n > 0) return mode_fork(n);
    if (!strcmp(mode, "reclaim") && n >= 10) return mode_reclaim(n);
    if (!strcmp(mode, "threads")) return mode_threads();
    fprintf(stderr, "usage: prog_libc_preload badinput | libc | fork N | reclaim N | threads\n");
    return 2;
}
