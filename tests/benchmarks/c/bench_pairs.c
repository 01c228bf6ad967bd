/*
** bench_pairs.c -- the C pair benchmark: libpool's pool_malloc/pool_free
** against glibc, mimalloc and jemalloc on eight malloc+free patterns, all in
** one process, interleaved, median of rounds.
**
**   bench_pairs [--quick] [--rounds N] [--scale X] [--peers LIST] [--no-rss]
**               [--json FILE]
**   bench_pairs --pairs-only N [--size S] [--api pool|heap|heap-sized|lua]
**
** Peers are dlopen()ed (RTLD_LOCAL, so they never replace this process's
** malloc): mimalloc's mi_malloc/mi_free, jemalloc's own malloc/free (looked
** up in its handle and checked with dladdr), glibc's __libc_malloc/
** __libc_free.  POOL_BENCH_MIMALLOC / POOL_BENCH_JEMALLOC override the
** library paths; a peer that cannot be loaded is skipped with a note.
** Every allocator is called through the same function pointers.
**
** --pairs-only N does N malloc+free pairs of one size and nothing else
** (pool APIs called directly, peers through pointers), one block kept live
** so the page stays in use, for instruction counting:
**   valgrind --tool=callgrind bench_pairs --pairs-only 2000000  (minus N=1M)
*/
#define _GNU_SOURCE
#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

#define BP_MAX_ALLOCS 5
#define BP_MAX_ROUNDS 101

/* Keep the compiler from dropping or merging a malloc/free pair. */
#define BP_ESCAPE(p) __asm__ volatile("" : : "r"(p) : "memory")

typedef void *(*bp_malloc_fn)(size_t);
typedef void (*bp_free_fn)(void *);

typedef struct bp_alloc {
    const char *name;
    bp_malloc_fn malloc;
    bp_free_fn free;
    char origin[256];       /* the library the functions live in */
    char note[320];         /* why it is skipped; empty when available */
} bp_alloc_t;

/* The inputs of one run of a pattern, the same for every allocator. */
typedef struct bp_work {
    size_t ops;             /* pairs to aim for */
    uint32_t *sizes;        /* random request sizes */
    uint32_t *slots;        /* random slot indices (churn), or a permutation */
    size_t nsizes;          /* power of two */
    void **live;            /* scratch for live blocks */
    size_t nlive;
    uint64_t sink;          /* checksum of words read back */
} bp_work_t;

typedef uint64_t (*bp_pattern_fn)(const bp_alloc_t *, bp_work_t *);

/* ---- the allocators ---- */

static void *bp_pool_malloc(size_t n) { return pool_malloc(n); }
static void bp_pool_free(void *p) { pool_free(p); }

/* The library holding function `fn`, or "" if dladdr cannot tell. */
static const char *bp_origin(void *fn) {
    Dl_info info;
    if (fn && dladdr(fn, &info) && info.dli_fname) return info.dli_fname;
    return "";
}

/* Whether peer `name` is in the comma-separated list `peers`. */
static int bp_wanted(const char *peers, const char *name) {
    size_t len = strlen(name);
    for (const char *s = peers; s && *s;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == len && !strncmp(s, name, len)) return 1;
        s = e ? e + 1 : NULL;
    }
    return 0;
}

static char **bp_argv;

/* jemalloc uses initial-exec TLS, which dlopen() can place only in glibc's
** spare static TLS: run this program again with more of it reserved
** (once; if that fails too, the peer is skipped). */
static void bp_reexec_with_tls(void) {
    const char *done = "POOL_BENCH_STATIC_TLS";
    if (getenv(done)) return;
    const char *old = getenv("GLIBC_TUNABLES");
    char tun[1024];
    snprintf(tun, sizeof tun, "%s%sglibc.rtld.optional_static_tls=16384", old ? old : "", old ? ":" : "");
    setenv("GLIBC_TUNABLES", tun, 1);
    setenv(done, "1", 1);
    fflush(NULL);
    execv("/proc/self/exe", bp_argv);
}

/* dlopen a peer from env `var` or `path`; look up its malloc/free and make
** sure they come from that library (not from libc by symbol search). */
static void bp_load_peer(bp_alloc_t *a, const char *var, const char *path, const char *msym, const char *fsym,
                         const char *must_contain) {
    const char *env = getenv(var);
    if (env) path = env;
    if (!*path) { snprintf(a->note, sizeof a->note, "not loaded: $%s is not set", var); return; }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *err = dlerror();
        if (strstr(err, "static TLS")) bp_reexec_with_tls();
        snprintf(a->note, sizeof a->note, "not loaded: %s", err);
        return;
    }
    a->malloc = (bp_malloc_fn)dlsym(h, msym);
    a->free = (bp_free_fn)dlsym(h, fsym);
    const char *from = bp_origin((void *)a->malloc), *ffrom = bp_origin((void *)a->free);
    if (!a->malloc || !a->free) {
        snprintf(a->note, sizeof a->note, "%s has no %s/%s", path, msym, fsym);
    } else if (!strstr(from, must_contain) || strcmp(from, ffrom)) {
        snprintf(a->note, sizeof a->note, "%s resolved to %s, not to %s", msym, from, path);
    } else {
        snprintf(a->origin, sizeof a->origin, "%s", from);
        return;
    }
    a->malloc = NULL;
    a->free = NULL;
}

/* Fill `as` with pool first, then the peers in `peers`; returns the count
** (skipped peers included, with a note). */
static int bp_allocators(bp_alloc_t *as, const char *peers) {
    int n = 0;
    memset(as, 0, BP_MAX_ALLOCS * sizeof *as);
    as[n].name = "pool";
    as[n].malloc = bp_pool_malloc;
    as[n].free = bp_pool_free;
    snprintf(as[n].origin, sizeof as[n].origin, "%s", bp_origin((void *)pool_malloc));
    n++;
    if (bp_wanted(peers, "glibc")) {
        bp_alloc_t *a = &as[n++];
        a->name = "glibc";
        a->malloc = (bp_malloc_fn)dlsym(RTLD_DEFAULT, "__libc_malloc");
        a->free = (bp_free_fn)dlsym(RTLD_DEFAULT, "__libc_free");
        if (!a->malloc || !a->free) snprintf(a->note, sizeof a->note, "__libc_malloc not found");
        else snprintf(a->origin, sizeof a->origin, "%s", bp_origin((void *)a->malloc));
    }
    if (bp_wanted(peers, "mimalloc")) {
        bp_alloc_t *a = &as[n++];
        a->name = "mimalloc";
        bp_load_peer(a, "POOL_BENCH_MIMALLOC", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2", "mi_malloc", "mi_free",
                     "mimalloc");
    }
    if (bp_wanted(peers, "mimalloc3")) {   /* no system default: pip's cmeel-mimalloc, passed by the harness */
        bp_alloc_t *a = &as[n++];
        a->name = "mimalloc3";
        bp_load_peer(a, "POOL_BENCH_MIMALLOC3", "", "mi_malloc", "mi_free", "libmimalloc.so.3");
    }
    if (bp_wanted(peers, "jemalloc")) {
        bp_alloc_t *a = &as[n++];
        a->name = "jemalloc";
        bp_load_peer(a, "POOL_BENCH_JEMALLOC", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "malloc", "free",
                     "jemalloc");
    }
    return n;
}

/* ---- random inputs ---- */

static uint64_t bp_rng = 0x9e3779b97f4a7c15u;

/* xorshift64*: the same stream on every run. */
static uint64_t bp_rand(void) {
    bp_rng ^= bp_rng >> 12;
    bp_rng ^= bp_rng << 25;
    bp_rng ^= bp_rng >> 27;
    return bp_rng * 0x2545f4914f6cdd1du;
}

/* n sizes uniform in [lo, hi]. */
static uint32_t *bp_sizes(size_t n, uint32_t lo, uint32_t hi) {
    uint32_t *s = malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++) s[i] = lo + (uint32_t)(bp_rand() % (hi - lo + 1));
    return s;
}

/* ---- the patterns: each returns the number of malloc+free pairs ---- */

/* Write a word into a fresh block, as a program would. */
static inline void *bp_take(const bp_alloc_t *a, size_t n, uint64_t tag) {
    uint64_t *p = a->malloc(n);
    if (!p) { fprintf(stderr, "bench_pairs: %s: malloc(%zu) failed\n", a->name, n); exit(1); }
    *p = tag;
    return p;
}

/* Read the word back and free the block. */
static inline void bp_give(const bp_alloc_t *a, bp_work_t *w, void *p) {
    w->sink += *(uint64_t *)p;
    a->free(p);
}

/* batch: nlive blocks of the pattern's sizes, then their frees, in order. */
static uint64_t bp_batch(const bp_alloc_t *a, bp_work_t *w) {
    size_t batch = w->nlive, reps = w->ops / batch + 1, mask = w->nsizes - 1;
    for (size_t r = 0; r < reps; r++) {
        for (size_t i = 0; i < batch; i++) w->live[i] = bp_take(a, w->sizes[(i + r) & mask], i);
        for (size_t i = 0; i < batch; i++) bp_give(a, w, w->live[i]);
    }
    return reps * batch;
}

/* random: a batch of sizes 8..1024, freed in a shuffled order. */
static uint64_t bp_random(const bp_alloc_t *a, bp_work_t *w) {
    size_t batch = w->nsizes, reps = w->ops / batch + 1;
    assert(batch <= w->nlive);
    for (size_t r = 0; r < reps; r++) {
        for (size_t i = 0; i < batch; i++) w->live[i] = bp_take(a, w->sizes[(i + r) & (batch - 1)], i);
        for (size_t i = 0; i < batch; i++) bp_give(a, w, w->live[w->slots[i]]);
    }
    return reps * batch;
}

/* interleaved: a window of 8 live blocks; each step frees the oldest and
** allocates a new one (sizes 8..1024). */
static uint64_t bp_interleaved(const bp_alloc_t *a, bp_work_t *w) {
    void *ring[8];
    size_t mask = w->nsizes - 1;
    for (size_t i = 0; i < 8; i++) ring[i] = bp_take(a, w->sizes[i], i);
    for (size_t i = 8; i < w->ops; i++) {
        bp_give(a, w, ring[i & 7]);
        ring[i & 7] = bp_take(a, w->sizes[i & mask], i);
    }
    for (size_t i = 0; i < 8; i++) bp_give(a, w, ring[i]);
    return w->ops;
}

/* churn: a live set of nlive blocks (sizes 8..1024); each step frees a
** random one and allocates its replacement.  Fill and drain count too. */
static uint64_t bp_churn(const bp_alloc_t *a, bp_work_t *w) {
    size_t mask = w->nsizes - 1, n = w->nlive;
    for (size_t i = 0; i < n; i++) w->live[i] = bp_take(a, w->sizes[i & mask], i);
    for (size_t i = 0; i < w->ops; i++) {
        size_t k = w->slots[i & mask] % n;
        bp_give(a, w, w->live[k]);
        w->live[k] = bp_take(a, w->sizes[(i * 7) & mask], i);
    }
    for (size_t i = 0; i < n; i++) bp_give(a, w, w->live[i]);
    return w->ops + n;
}

/* producer/consumer: a producer thread allocates, this thread frees, the
** blocks travel through a single-producer single-consumer ring. */
#define BP_RING 4096
typedef struct bp_ring {
    _Alignas(64) _Atomic size_t head;   /* consumer's position */
    _Alignas(64) _Atomic size_t tail;   /* producer's position */
    _Alignas(64) void *slot[BP_RING];
    const bp_alloc_t *a;
    bp_work_t *w;
} bp_ring_t;

/* Spin a little, then let the other thread run (2 cores, shared machine). */
static void bp_backoff(unsigned *spins) {
    if (++*spins > 64) { sched_yield(); *spins = 0; }
}

static void *bp_producer(void *arg) {
    bp_ring_t *q = arg;
    size_t mask = q->w->nsizes - 1, tail = 0, ops = q->w->ops;
    unsigned spins = 0;     /* across the loop: a full ring must end in a yield */
    for (size_t i = 0; i < ops;) {
        size_t head = atomic_load_explicit(&q->head, memory_order_acquire);
        size_t room = BP_RING - (tail - head);
        if (!room) { bp_backoff(&spins); continue; }
        if (room > ops - i) room = ops - i;
        for (size_t k = 0; k < room; k++, i++) q->slot[(tail + k) % BP_RING] = bp_take(q->a, q->w->sizes[i & mask], i);
        tail += room;
        atomic_store_explicit(&q->tail, tail, memory_order_release);
    }
    return NULL;
}

static uint64_t bp_prodcons(const bp_alloc_t *a, bp_work_t *w) {
    static bp_ring_t q;
    atomic_store(&q.head, 0);
    atomic_store(&q.tail, 0);
    q.a = a;
    q.w = w;
    pthread_t t;
    if (pthread_create(&t, NULL, bp_producer, &q)) { perror("bench_pairs: pthread_create"); exit(1); }
    size_t head = 0;
    unsigned spins = 0;
    while (head < w->ops) {
        size_t tail = atomic_load_explicit(&q.tail, memory_order_acquire);
        if (tail == head) { bp_backoff(&spins); continue; }
        for (; head < tail; head++) bp_give(a, w, q.slot[head % BP_RING]);
        atomic_store_explicit(&q.head, head, memory_order_release);
    }
    pthread_join(t, NULL);
    return w->ops;
}

typedef struct bp_pattern {
    const char *name;
    const char *what;
    bp_pattern_fn run;
    double ops_scale;       /* pairs per run, relative to the base */
    uint32_t lo, hi;        /* request sizes */
    size_t nlive;
} bp_pattern_t;

static const bp_pattern_t bp_patterns[] = {
    { "fixed", "batch of 10000 x 64 B, then their frees", bp_batch, 1.0, 64, 64, 10000 },
    { "batch64", "batch of 100000 x 64 B, then their frees", bp_batch, 1.0, 64, 64, 100000 },
    { "batchrand", "batch of 100000 sizes 8..1024 B, then their frees", bp_batch, 1.0, 8, 1024, 100000 },
    { "random", "batch of 4096 sizes 8..1024 B, freed shuffled", bp_random, 0.5, 8, 1024, 4096 },
    { "interleaved", "window of 8 live blocks, 8..1024 B", bp_interleaved, 1.0, 8, 1024, 8 },
    { "churn", "live set of 50000 blocks 8..1024 B, random replace", bp_churn, 0.5, 8, 1024, 50000 },
    { "churn100k", "live set of 100000 blocks 8..508 B, random replace", bp_churn, 0.5, 8, 508, 100000 },
    { "prodcons", "one thread allocates 8..256 B, another frees", bp_prodcons, 0.5, 8, 256, 0 },
};
#define BP_NPATTERNS (sizeof bp_patterns / sizeof bp_patterns[0])

/* Inputs for pattern pt at base size `ops`. */
static void bp_work_init(bp_work_t *w, const bp_pattern_t *pt, size_t ops) {
    memset(w, 0, sizeof *w);
    w->ops = (size_t)(ops * pt->ops_scale);
    if (w->ops < 64) w->ops = 64;
    w->nsizes = 4096;
    bp_rng = 0x9e3779b97f4a7c15u;
    w->sizes = bp_sizes(w->nsizes, pt->lo, pt->hi);
    w->slots = malloc(w->nsizes * sizeof *w->slots);
    for (size_t i = 0; i < w->nsizes; i++) w->slots[i] = (uint32_t)i;
    if (pt->run == bp_random) {
        for (size_t i = w->nsizes - 1; i > 0; i--) {   /* Fisher-Yates */
            size_t j = bp_rand() % (i + 1);
            uint32_t t = w->slots[i];
            w->slots[i] = w->slots[j];
            w->slots[j] = t;
        }
    } else {
        for (size_t i = 0; i < w->nsizes; i++) w->slots[i] = (uint32_t)bp_rand();
    }
    w->nlive = pt->nlive > w->nsizes ? pt->nlive : (pt->run == bp_random ? w->nsizes : pt->nlive);
    w->live = calloc(w->nlive ? w->nlive : 1, sizeof *w->live);
}

static void bp_work_free(bp_work_t *w) {
    free(w->sizes);
    free(w->slots);
    free(w->live);
}

static double bp_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One timed run: millions of pairs per second; *pairs gets the count. */
static double bp_time(const bp_alloc_t *a, const bp_pattern_t *pt, bp_work_t *w, size_t *pairs) {
    double t0 = bp_now();
    *pairs = pt->run(a, w);
    double dt = bp_now() - t0;
    return (double)*pairs / dt / 1e6;
}

/* ---- peak RSS, one allocator and pattern at a time, in a child ---- */

/* A field of /proc/self/status, in kB, or -1. */
static long bp_status_kb(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t len = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, len) && line[len] == ':') { v = strtol(line + len + 1, NULL, 10); break; }
    if (f) fclose(f);
    return v;
}

/* Peak RSS growth (kB) of one run of pt on a, measured in a forked child
** whose peak is reset first (clear_refs 5), so earlier runs do not count.
** -1 if it cannot be measured. */
static long bp_peak_rss(const bp_alloc_t *a, const bp_pattern_t *pt, size_t ops) {
    int fd[2];
    if (pipe(fd)) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { close(fd[0]); close(fd[1]); return -1; }
    if (pid == 0) {
        close(fd[0]);
        bp_work_t w;
        bp_work_init(&w, pt, ops);
        FILE *cr = fopen("/proc/self/clear_refs", "w");
        if (cr) { fputs("5", cr); fclose(cr); }
        long base = bp_status_kb("VmRSS");
        pt->run(a, &w);
        long peak = bp_status_kb("VmHWM") - base;
        if (base < 0) peak = -1;
        if (write(fd[1], &peak, sizeof peak) != sizeof peak) _exit(1);
        _exit(0);
    }
    close(fd[1]);
    long peak = -1;
    if (read(fd[0], &peak, sizeof peak) != sizeof peak) peak = -1;
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    return peak;
}

/* ---- the report ---- */

static int bp_cmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double bp_median(double *v, int n) {
    qsort(v, n, sizeof *v, bp_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct bp_result {
    double samples[BP_MAX_ALLOCS][BP_MAX_ROUNDS];
    double median[BP_MAX_ALLOCS];
    long rss_kb[BP_MAX_ALLOCS];
    size_t pairs;
} bp_result_t;

static int bp_find(const bp_alloc_t *as, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(as[i].name, name) && !as[i].note[0]) return i;
    return -1;
}

/* Geometric mean over the patterns of allocator i's medians (or of its
** ratios to allocator ref when ref >= 0). */
static double bp_geomean(const bp_result_t *res, int i, int ref) {
    double s = 0;
    for (size_t p = 0; p < BP_NPATTERNS; p++)
        s += log(res[p].median[i] / (ref >= 0 ? res[p].median[ref] : 1.0));
    return exp(s / BP_NPATTERNS);
}

static void bp_print_table(const bp_alloc_t *as, int n, const bp_result_t *res, int rounds) {
    int mi = bp_find(as, n, "mimalloc"), gi = bp_find(as, n, "glibc");
    printf("\nMpairs/s (malloc+free pairs per second, median of %d interleaved rounds; higher is better)\n\n",
           rounds);
    printf("%-12s", "pattern");
    for (int i = 0; i < n; i++)
        if (!as[i].note[0]) printf(" %10s", as[i].name);
    if (mi >= 0) printf(" %14s", "pool/mimalloc");
    if (gi >= 0) printf(" %12s", "pool/glibc");
    printf("\n");
    for (size_t p = 0; p < BP_NPATTERNS + 1; p++) {
        printf("%-12s", p < BP_NPATTERNS ? bp_patterns[p].name : "geomean");
        for (int i = 0; i < n; i++)
            if (!as[i].note[0]) printf(" %10.1f", p < BP_NPATTERNS ? res[p].median[i] : bp_geomean(res, i, -1));
        if (mi >= 0)
            printf(" %13.2fx", p < BP_NPATTERNS ? res[p].median[0] / res[p].median[mi] : bp_geomean(res, 0, mi));
        if (gi >= 0)
            printf(" %11.2fx", p < BP_NPATTERNS ? res[p].median[0] / res[p].median[gi] : bp_geomean(res, 0, gi));
        printf("\n");
    }
    if (mi >= 0) {
        printf("\nratio to mimalloc (geomean):");
        for (int i = 0; i < n; i++)
            if (!as[i].note[0]) printf("  %s %.2fx", as[i].name, bp_geomean(res, i, mi));
        printf("\n");
    }
    if (res[0].rss_kb[0] >= 0) {
        printf("\npeak RSS growth, kB (one run in a fresh child)\n\n%-12s", "pattern");
        for (int i = 0; i < n; i++)
            if (!as[i].note[0]) printf(" %10s", as[i].name);
        printf("\n");
        for (size_t p = 0; p < BP_NPATTERNS; p++) {
            printf("%-12s", bp_patterns[p].name);
            for (int i = 0; i < n; i++)
                if (!as[i].note[0]) printf(" %10ld", res[p].rss_kb[i]);
            printf("\n");
        }
    }
    for (int i = 0; i < n; i++)
        if (as[i].note[0]) printf("note: %s skipped: %s\n", as[i].name, as[i].note);
}

/* A JSON string (the texts here have no control characters). */
static void bp_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static int bp_write_json(const char *path, const bp_alloc_t *as, int n, const bp_result_t *res, int rounds,
                         size_t ops) {
    FILE *f = fopen(path, "w");
    if (!f) { fprintf(stderr, "bench_pairs: cannot write %s: %s\n", path, strerror(errno)); return -1; }
    int mi = bp_find(as, n, "mimalloc"), gi = bp_find(as, n, "glibc");
    struct utsname u;
    uname(&u);
    time_t now = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(f, "{\n  \"benchmark\": \"bench_pairs\",\n  \"unit\": \"Mpairs/s\",\n  \"date\": \"%s\",\n", date);
    fprintf(f, "  \"machine\": {\"system\": \"%s\", \"release\": \"%s\", \"arch\": \"%s\", \"cpus\": %ld},\n",
            u.sysname, u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN));
    fprintf(f, "  \"rounds\": %d,\n  \"base_ops\": %zu,\n  \"default\": \"glibc\",\n  \"allocators\": [", rounds, ops);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s\n    {\"name\": \"%s\", \"available\": %s, \"origin\": ", i ? "," : "", as[i].name,
                as[i].note[0] ? "false" : "true");
        bp_json_str(f, as[i].origin);
        fprintf(f, ", \"note\": ");
        bp_json_str(f, as[i].note);
        fprintf(f, "}");
    }
    fprintf(f, "\n  ],\n  \"patterns\": [");
    for (size_t p = 0; p < BP_NPATTERNS; p++) {
        fprintf(f, "%s\n    {\"name\": \"%s\", \"what\": \"%s\", \"pairs\": %zu, \"results\": {", p ? "," : "",
                bp_patterns[p].name, bp_patterns[p].what, res[p].pairs);
        int first = 1;
        for (int i = 0; i < n; i++) {
            if (as[i].note[0]) continue;
            fprintf(f, "%s\n      \"%s\": {\"median\": %.4f, \"samples\": [", first ? "" : ",", as[i].name,
                    res[p].median[i]);
            for (int r = 0; r < rounds; r++) fprintf(f, "%s%.4f", r ? ", " : "", res[p].samples[i][r]);
            fprintf(f, "], \"peak_rss_kb\": %ld", res[p].rss_kb[i]);
            if (mi >= 0) fprintf(f, ", \"ratio_mimalloc\": %.4f", res[p].median[i] / res[p].median[mi]);
            if (gi >= 0) fprintf(f, ", \"ratio_glibc\": %.4f", res[p].median[i] / res[p].median[gi]);
            fprintf(f, "}");
            first = 0;
        }
        fprintf(f, "}}");
    }
    fprintf(f, "\n  ],\n  \"geomean\": {");
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (as[i].note[0]) continue;
        fprintf(f, "%s\n    \"%s\": {\"median\": %.4f", first ? "" : ",", as[i].name, bp_geomean(res, i, -1));
        if (mi >= 0) fprintf(f, ", \"ratio_mimalloc\": %.4f", bp_geomean(res, i, mi));
        if (gi >= 0) fprintf(f, ", \"ratio_glibc\": %.4f", bp_geomean(res, i, gi));
        fprintf(f, "}");
        first = 0;
    }
    fprintf(f, "\n  }\n}\n");
    return fclose(f) ? -1 : 0;
}

/* ---- modes ---- */

static int bp_usage(const char *msg);

/* N pairs of one size and nothing else, for instruction counting.  The
** pool APIs are called directly; a peer (glibc, mimalloc, jemalloc) through
** its function pointers.  `keep` blocks of the same size stay live, so the
** page never empties (the steady state of a program); keep 0 measures the
** ping-pong of one block, where each free empties its page. */
static int bp_pairs_only(long n, size_t size, const char *api, long keep, const char *peers) {
    void *kept[64];
    pool_heap_t *h = NULL;
    bp_alloc_t as[BP_MAX_ALLOCS];
    int peer = -1;
    assert(keep >= 0 && keep <= 64);
    if (!strcmp(api, "heap") || !strcmp(api, "heap-sized") || !strcmp(api, "lua")) {
        /* lua: a heap as Lua states get it (sized, with a limit), called
        ** through a lua_Alloc pointer with a type tag, as Lua calls it. */
        pool_heap_options_t o = { .sized = strcmp(api, "heap") != 0, .name = "pairs",
                                  .limit = !strcmp(api, "lua") ? (size_t)1 << 40 : 0 };
        if (!(h = pool_heap_new(&o))) { perror("bench_pairs: pool_heap_new"); return 1; }
    } else if (strcmp(api, "pool")) {
        int na = bp_allocators(as, peers);
        for (int i = 1; i < na; i++)
            if (!strcmp(as[i].name, api)) peer = i;
        if (peer < 0) {
            char msg[300];
            snprintf(msg, sizeof msg, "unknown --api '%s' (pool, heap, heap-sized, lua, glibc, mimalloc, "
                                      "mimalloc3, jemalloc)", api);
            return bp_usage(msg);
        }
        if (as[peer].note[0]) { printf("note: %s skipped: %s\n", api, as[peer].note); return 0; }
    }
    for (long i = 0; i < keep; i++)
        kept[i] = h ? pool_heap_malloc(h, size) : peer >= 0 ? as[peer].malloc(size) : pool_malloc(size);
    if (!strcmp(api, "pool")) {
        for (long i = 0; i < n; i++) { void *p = pool_malloc(size); BP_ESCAPE(p); pool_free(p); }
    } else if (!strcmp(api, "heap")) {
        for (long i = 0; i < n; i++) { void *p = pool_heap_malloc(h, size); BP_ESCAPE(p); pool_heap_free(h, p); }
    } else if (!strcmp(api, "heap-sized")) {
        for (long i = 0; i < n; i++) { void *p = pool_heap_malloc(h, size); BP_ESCAPE(p); pool_heap_free_sized(h, p, size); }
    } else if (!strcmp(api, "lua")) {
        void *(*volatile lua_alloc)(void *, void *, size_t, size_t) = pool_heap_lua_alloc;
        void *(*f)(void *, void *, size_t, size_t) = lua_alloc;
        for (long i = 0; i < n; i++) { void *p = f(h, NULL, 5, size); BP_ESCAPE(p); f(h, p, size, 0); }
    } else {
        bp_malloc_fn m = as[peer].malloc;
        bp_free_fn f = as[peer].free;
        for (long i = 0; i < n; i++) { void *p = m(size); BP_ESCAPE(p); f(p); }
    }
    for (long i = 0; i < keep; i++) {
        if (h) pool_heap_free_sized(h, kept[i], size);
        else if (peer >= 0) as[peer].free(kept[i]);
        else pool_free(kept[i]);
    }
    if (h) pool_heap_destroy(h);
    printf("%ld pairs of %zu bytes through %s (%ld kept live)\n", n, size, api, keep);
    return 0;
}

static int bp_usage(const char *msg) {
    FILE *f = msg ? stderr : stdout;
    if (msg) fprintf(f, "bench_pairs: %s\n", msg);
    fprintf(f,
            "usage: bench_pairs [--quick] [--rounds N] [--scale X] [--peers glibc,mimalloc,mimalloc3,jemalloc]\n"
            "                   [--no-rss] [--json FILE]\n"
            "       bench_pairs --pairs-only N [--size BYTES] [--keep K]\n"
            "                   [--api pool|heap|heap-sized|lua|glibc|mimalloc|mimalloc3|jemalloc]\n"
            "env: POOL_BENCH_MIMALLOC, POOL_BENCH_MIMALLOC3, POOL_BENCH_JEMALLOC = library paths of the peers\n");
    return 2;
}

/* Value of option argv[*i] (advancing *i), or NULL when missing. */
static const char *bp_arg(int argc, char **argv, int *i) {
    return *i + 1 < argc ? argv[++*i] : NULL;
}

int main(int argc, char **argv) {
    bp_argv = argv;
    int rounds = 0, quick = 0, rss = 1;
    double scale = 1.0;
    long pairs_only = -1, keep = 1;
    size_t size = 32;
    const char *json = NULL, *peers = "glibc,mimalloc,mimalloc3,jemalloc", *api = "pool", *v;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--quick")) quick = 1;
        else if (!strcmp(o, "--no-rss")) rss = 0;
        else if (!strcmp(o, "-h") || !strcmp(o, "--help")) { bp_usage(NULL); return 0; }
        else if (!strcmp(o, "--rounds")) {
            if (!(v = bp_arg(argc, argv, &i)) || (rounds = atoi(v)) < 1 || rounds > BP_MAX_ROUNDS)
                return bp_usage("--rounds takes a count from 1 to 101");
        } else if (!strcmp(o, "--scale")) {
            if (!(v = bp_arg(argc, argv, &i)) || (scale = atof(v)) <= 0) return bp_usage("--scale takes a number > 0");
        } else if (!strcmp(o, "--peers")) {
            if (!(peers = bp_arg(argc, argv, &i))) return bp_usage("--peers takes a list");
        } else if (!strcmp(o, "--json")) {
            if (!(json = bp_arg(argc, argv, &i))) return bp_usage("--json takes a file name");
        } else if (!strcmp(o, "--pairs-only")) {
            if (!(v = bp_arg(argc, argv, &i)) || (pairs_only = atol(v)) < 1) return bp_usage("--pairs-only takes N > 0");
        } else if (!strcmp(o, "--size")) {
            long s;
            if (!(v = bp_arg(argc, argv, &i)) || (s = atol(v)) < 0) return bp_usage("--size takes bytes >= 0");
            size = (size_t)s;
        } else if (!strcmp(o, "--api")) {
            if (!(api = bp_arg(argc, argv, &i))) return bp_usage("--api takes an allocator or pool API");
        } else if (!strcmp(o, "--keep")) {
            if (!(v = bp_arg(argc, argv, &i)) || (keep = atol(v)) < 0 || keep > 64)
                return bp_usage("--keep takes a count from 0 to 64");
        } else {
            char msg[300];
            snprintf(msg, sizeof msg, "unknown option '%s'", o);
            return bp_usage(msg);
        }
    }
    if (pairs_only > 0) return bp_pairs_only(pairs_only, size, api, keep, peers);
    for (const char *s = peers; *s;) {   /* check the peer names */
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (!(len == 5 && !strncmp(s, "glibc", 5)) && !(len == 8 && !strncmp(s, "mimalloc", 8)) &&
            !(len == 9 && !strncmp(s, "mimalloc3", 9)) && !(len == 8 && !strncmp(s, "jemalloc", 8)))
            return bp_usage("--peers takes names from glibc, mimalloc, mimalloc3, jemalloc");
        s = e ? e + 1 : s + len;
    }
    if (!rounds) rounds = quick ? 5 : 11;
    size_t ops = (size_t)((quick ? 400000 : 1500000) * scale);

    bp_alloc_t as[BP_MAX_ALLOCS];
    int n = bp_allocators(as, peers);
    static bp_result_t res[BP_NPATTERNS];
    printf("bench_pairs: %d rounds, %zu base pairs per run\n", rounds, ops);
    for (int i = 0; i < n; i++)
        printf("  %-9s %s\n", as[i].name, as[i].note[0] ? as[i].note : as[i].origin);
    fflush(stdout);
    for (size_t p = 0; p < BP_NPATTERNS; p++)
        for (int i = 0; i < n; i++)
            res[p].rss_kb[i] = rss && !as[i].note[0] ? bp_peak_rss(&as[i], &bp_patterns[p], ops) : -1;

    for (size_t p = 0; p < BP_NPATTERNS; p++) {
        const bp_pattern_t *pt = &bp_patterns[p];
        bp_work_t w;
        bp_work_init(&w, pt, ops);
        res[p].pairs = 0;
        for (int i = 0; i < n; i++)   /* warm-up run, not timed */
            if (!as[i].note[0]) pt->run(&as[i], &w);
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < n; k++) {   /* the order rotates each round */
                int i = (r + k) % n;
                if (as[i].note[0]) continue;
                res[p].samples[i][r] = bp_time(&as[i], pt, &w, &res[p].pairs);
            }
        }
        for (int i = 0; i < n; i++) {
            double tmp[BP_MAX_ROUNDS];
            memcpy(tmp, res[p].samples[i], rounds * sizeof *tmp);
            res[p].median[i] = as[i].note[0] ? 0 : bp_median(tmp, rounds);
        }
        printf("  %-12s done\n", pt->name);
        fflush(stdout);
        bp_work_free(&w);
    }
    bp_print_table(as, n, res, rounds);
    if (json && bp_write_json(json, as, n, res, rounds, ops)) return 1;
    return 0;
}
