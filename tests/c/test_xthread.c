/* test_xthread.c -- cross-thread free stress with a watchdog.
**
** Threads allocate blocks of random sizes, keep a working set, and hand a
** share of it to other threads through shared queues; the receivers verify
** and free them, so most frees land on pages another thread owns.  Pages
** go through every state: filled and parked, freed into while parked,
** emptied and retired, reused for another class, orphaned when their
** thread exits with live blocks, adopted by the thread that replaces it.
**
** A watchdog thread watches every worker's progress counter.  A worker that
** makes no progress for --stall seconds fails the run: the watchdog names
** the thread and the operation it is in, prints every thread's stack
** (through gdb when it is installed) and exits 3.  A hang never waits for
** a CI timeout.
**
**   test_xthread [--threads N] [--loops N] [--set N] [--runs N]
**                [--sizes pair|mixed] [--turnover N] [--stall S] [--check N] [--trim MS]
**                [--scale F]
**
** --sizes pair is the issue-13 workload (uniform 8..16000 bytes); mixed
** spans the small and medium classes and large blocks past 128 KiB.
** --turnover N: a worker exits after N loops and a new one takes its slot.
** --runs N repeats the whole pattern N times in this process (the soak).
** --check N: every N loops each worker runs pool_check() on its own heap.
** --trim MS: a trimmer thread calls pool_trim() and pool_page_map() every MS
** ms, so segments are purged and read by a thread that does not own them
** while their owners take spans (the suite's mixed patterns: every 5 ms).
** Given only --stall, --check, --trim and --scale (a factor on the number of
** runs, for sanitizer builds), it runs the bounded suite: 2, 4 and 8 threads, both
** size mixes, with turnover.  Ends with exact totals. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define MAX_THREADS 16
#define QUEUE_CAP   8192

typedef struct { unsigned char *p; uint32_t n, tag; } blk_t;

/* A shared queue of blocks handed to one worker slot. */
typedef struct {
    pthread_mutex_t lock;
    blk_t q[QUEUE_CAP];
    size_t head, count;
} queue_t;

/* What a worker is doing, for the watchdog's report. */
enum { OP_IDLE, OP_MALLOC, OP_FREE_OWN, OP_FREE_HANDED, OP_CHECK, OP_EXIT, OP_TRIM };
static const char *const op_name[] = {"idle", "pool_malloc", "pool_free (own block)",
                                      "pool_free (block from another thread)", "pool_check",
                                      "thread exit", "pool_trim and pool_page_map"};

typedef struct {
    _Atomic uint64_t progress;   /* bumped after every completed call into libpool */
    _Atomic int op;              /* OP_* in progress */
    _Atomic size_t op_size;
    _Atomic pid_t tid;
    _Atomic int running;
    _Atomic long loop;
    int slot, generation;
    pthread_t thread;
} worker_t;

/* The trimmer's slot: a thread that purges every segment's free slices
** (pool_trim) and reads every segment (pool_page_map) while the workers
** take and give back spans in them. */
#define TRIMMER (MAX_THREADS - 2)

static struct {
    int threads, loops, set, runs, turnover, check_every, trim_ms;
    double stall, scale;   /* scale: of the suite's runs and loops (sanitizer builds) */
    int mixed, custom;   /* custom: a pattern was given, not the suite */
} opt = {2, 500, 1000, 1, 0, 0, 0, 10.0, 1.0, 0, 0};

static queue_t queues[MAX_THREADS];
static worker_t workers[MAX_THREADS];
static atomic_long n_alloc, n_free_own, n_free_handed;
static _Atomic int watchdog_stop;

static uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return *s = x;
}

static size_t pick_size(uint64_t *r) {
    uint64_t x = rng_next(r);
    if (!opt.mixed) return 8 + (size_t)(x % (16000 - 8 + 1));
    unsigned k = (unsigned)(x % 1000);
    if (k < 700) return 1 + (size_t)((x >> 10) % 1024);              /* small classes */
    if (k < 985) return 1025 + (size_t)((x >> 10) % (128 * 1024 - 1025)); /* medium */
    return 128 * 1024 + 1 + (size_t)((x >> 10) % (384 * 1024));      /* large blocks */
}

/* Fill and verify: a block's bytes depend on its tag, so a block that two
** threads think they own, or that the allocator handed out twice, shows. */
static void stamp(const blk_t *b) {
    for (uint32_t i = 0; i < b->n; i += 61) b->p[i] = (unsigned char)(b->tag + i);
    if (b->n) b->p[b->n - 1] = (unsigned char)(b->tag ^ 0x5a);
}
static void verify(const blk_t *b) {
    for (uint32_t i = 0; i + 1 < b->n; i += 61)
        if (b->p[i] != (unsigned char)(b->tag + i)) {
            fprintf(stderr, "test_xthread: block %p (%u bytes) corrupted at byte %u\n", (void *)b->p, b->n, i);
            exit(1);
        }
    if (b->n && b->p[b->n - 1] != (unsigned char)(b->tag ^ 0x5a)) {
        fprintf(stderr, "test_xthread: block %p (%u bytes) corrupted at its last byte\n", (void *)b->p, b->n);
        exit(1);
    }
}

static int post(int to, blk_t b) {
    queue_t *q = &queues[to];
    pthread_mutex_lock(&q->lock);
    int ok = q->count < QUEUE_CAP;
    if (ok) q->q[(q->head + q->count++) % QUEUE_CAP] = b;
    pthread_mutex_unlock(&q->lock);
    return ok;
}

static int take(int me, blk_t *b) {
    queue_t *q = &queues[me];
    pthread_mutex_lock(&q->lock);
    int ok = q->count > 0;
    if (ok) { *b = q->q[q->head]; q->head = (q->head + 1) % QUEUE_CAP; q->count--; }
    pthread_mutex_unlock(&q->lock);
    return ok;
}

/* One call into libpool, announced to the watchdog. */
static void *w_malloc(worker_t *w, size_t n) {
    atomic_store(&w->op_size, n);
    atomic_store(&w->op, OP_MALLOC);
    void *p = pool_malloc(n);
    atomic_store(&w->op, OP_IDLE);
    atomic_fetch_add(&w->progress, 1);
    return p;
}
static void w_free(worker_t *w, const blk_t *b, int handed) {
    verify(b);
    atomic_store(&w->op_size, b->n);
    atomic_store(&w->op, handed ? OP_FREE_HANDED : OP_FREE_OWN);
    pool_free(b->p);
    atomic_store(&w->op, OP_IDLE);
    atomic_fetch_add(&w->progress, 1);
    atomic_fetch_add(handed ? &n_free_handed : &n_free_own, 1);
}

static void drain(worker_t *w) {
    blk_t b;
    while (take(w->slot, &b)) w_free(w, &b, 1);
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
    uint64_t r = 0x9E3779B97F4A7C15ull * (uint64_t)(w->slot + 1) + (uint64_t)w->generation * 7919u + 1;
    blk_t *set = calloc((size_t)opt.set, sizeof *set);
    CHECK(set != NULL);
    int life = opt.turnover ? opt.turnover : opt.loops;
    for (long loop = 0; loop < life; loop++) {
        atomic_store(&w->loop, loop);
        drain(w);
        for (int i = 0; i < opt.set; i++) {
            blk_t *b = &set[i];
            uint64_t x = rng_next(&r);
            if (b->p) {
                /* A quarter of the set goes to another thread, which frees it. */
                int to = (int)((x >> 20) % (uint64_t)opt.threads);
                if ((x & 3) == 0 && to != w->slot && post(to, *b)) b->p = NULL;
                else if ((x & 12) == 0) { w_free(w, b, 0); b->p = NULL; }
            }
            if (!b->p) {
                size_t n = pick_size(&r);
                b->p = w_malloc(w, n);
                CHECK(b->p != NULL);
                b->n = (uint32_t)n;
                b->tag = (uint32_t)(x >> 32);
                stamp(b);
                atomic_fetch_add(&n_alloc, 1);
            }
        }
        if (opt.check_every && loop % opt.check_every == 0) {
            atomic_store(&w->op, OP_CHECK);
            CHECK(pool_check() >= 0);
            atomic_store(&w->op, OP_IDLE);
        }
    }
    /* Leaving: half of what is left goes to the next slot (it frees blocks
    ** of this thread's pages after this thread is gone: orphaned pages),
    ** the rest is freed here. */
    for (int i = 0; i < opt.set; i++) {
        if (!set[i].p) continue;
        int to = (w->slot + 1) % opt.threads;
        if (!(i & 1) || to == w->slot || !post(to, set[i])) w_free(w, &set[i], 0);
    }
    drain(w);
    free(set);
    atomic_store(&w->op, OP_EXIT);
    return NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Every thread's stack, through gdb if it is there (it sees libpool's
** static functions by their names), else nothing more than the report. */
static void dump_stacks(void) {
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    pid_t c = fork();
    if (c == 0) {
        dup2(2, 1);
        execlp("gdb", "gdb", "-p", pid, "-batch", "-nx", "-ex", "thread apply all bt 12", (char *)NULL);
        _exit(127);
    }
    if (c > 0) {
        int st;
        for (int i = 0; i < 300 && waitpid(c, &st, WNOHANG) == 0; i++) usleep(100000);
        kill(c, SIGKILL);
        waitpid(c, &st, 0);
    }
}

/* The watchdog: a worker whose progress counter stands still for
** opt.stall seconds while it is inside libpool (or anywhere) fails the run. */
static void *watchdog_main(void *arg) {
    (void)arg;
    uint64_t last[MAX_THREADS] = {0};
    double since[MAX_THREADS];
    for (int i = 0; i < MAX_THREADS; i++) since[i] = now_s();
    while (!atomic_load(&watchdog_stop)) {
        usleep(50000);
        double t = now_s();
        for (int i = 0; i < MAX_THREADS - 1; i++) {
            worker_t *w = &workers[i];
            uint64_t p = atomic_load(&w->progress);
            if (p != last[i] || !atomic_load(&w->running)) { last[i] = p; since[i] = t; continue; }
            if (t - since[i] < opt.stall) continue;
            int op = atomic_load(&w->op);
            fprintf(stderr,
                    "test_xthread: STUCK: worker slot %d (generation %d, tid %d) made no progress for %.0f s, "
                    "in %s (size %zu), loop %ld\n",
                    i, w->generation, (int)atomic_load(&w->tid), t - since[i], op_name[op],
                    (size_t)atomic_load(&w->op_size), (long)atomic_load(&w->loop));
            for (int j = 0; j < MAX_THREADS - 1; j++)
                if (j != i && atomic_load(&workers[j].running))
                    fprintf(stderr, "test_xthread:   slot %d (tid %d) is in %s\n", j,
                            (int)atomic_load(&workers[j].tid), op_name[atomic_load(&workers[j].op)]);
            dump_stacks();
            _exit(3);
        }
    }
    return NULL;
}

static void start_worker(int slot, int generation) {
    worker_t *w = &workers[slot];
    w->slot = slot;
    w->generation = generation;
    atomic_store(&w->op, OP_IDLE);
    atomic_fetch_add(&w->progress, 1);
    atomic_store(&w->running, 1);
    CHECK(pthread_create(&w->thread, NULL, worker_main, w) == 0);
}

static _Atomic int trimmer_stop;
static void *trimmer_main(void *arg) {
    worker_t *w = arg;
    atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
    while (!atomic_load(&trimmer_stop)) {
        atomic_store(&w->op, OP_TRIM);
        pool_trim();
        (void)pool_page_map(NULL, 0);      /* every segment, under its lock */
        atomic_store(&w->op, OP_IDLE);
        atomic_fetch_add(&w->progress, 1);
        usleep((useconds_t)opt.trim_ms * 1000);
    }
    return NULL;
}

/* One run of the pattern: opt.threads slots; with turnover, each slot is
** refilled by a new thread until opt.loops loops were done in it; with
** --trim, the trimmer runs beside them. */
static void run_once(void) {
    int lives = opt.turnover ? (opt.loops + opt.turnover - 1) / opt.turnover : 1;
    worker_t *tw = &workers[TRIMMER];
    if (opt.trim_ms) {
        atomic_store(&trimmer_stop, 0);
        atomic_fetch_add(&tw->progress, 1);
        atomic_store(&tw->running, 1);
        CHECK(pthread_create(&tw->thread, NULL, trimmer_main, tw) == 0);
    }
    for (int i = 0; i < opt.threads; i++) start_worker(i, 0);
    for (int gen = 1; gen <= lives; gen++) {
        for (int i = 0; i < opt.threads; i++) {
            pthread_join(workers[i].thread, NULL);
            atomic_store(&workers[i].running, 0);
            if (gen < lives) start_worker(i, gen);
        }
    }
    if (opt.trim_ms) {
        atomic_store(&trimmer_stop, 1);
        pthread_join(tw->thread, NULL);
        atomic_store(&tw->running, 0);
    }
    /* Blocks still queued are freed here, by a thread that owns none of
    ** their pages. */
    worker_t *mainw = &workers[MAX_THREADS - 1];
    for (int i = 0; i < opt.threads; i++) {
        blk_t b;
        while (take(i, &b)) w_free(mainw, &b, 1);
    }
}

static int parse(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) { fprintf(stderr, "test_xthread: %s needs a value\n", a); return -1; }
        i++;
        opt.custom |= strcmp(a, "--stall") && strcmp(a, "--check") && strcmp(a, "--scale") && strcmp(a, "--trim");
        if (!strcmp(a, "--threads")) opt.threads = atoi(v);
        else if (!strcmp(a, "--loops")) opt.loops = atoi(v);
        else if (!strcmp(a, "--set")) opt.set = atoi(v);
        else if (!strcmp(a, "--runs")) opt.runs = atoi(v);
        else if (!strcmp(a, "--turnover")) opt.turnover = atoi(v);
        else if (!strcmp(a, "--check")) opt.check_every = atoi(v);
        else if (!strcmp(a, "--trim")) opt.trim_ms = atoi(v);
        else if (!strcmp(a, "--stall")) opt.stall = atof(v);
        else if (!strcmp(a, "--scale")) opt.scale = atof(v);
        else if (!strcmp(a, "--sizes") && (!strcmp(v, "pair") || !strcmp(v, "mixed"))) opt.mixed = !strcmp(v, "mixed");
        else { fprintf(stderr, "test_xthread: bad option %s %s\n", a, v); return -1; }
    }
    if (opt.threads < 1 || opt.threads >= TRIMMER || opt.trim_ms < 0 || opt.loops < 1 || opt.set < 1 || opt.runs < 1 ||
        opt.turnover < 0 || opt.check_every < 0 || opt.stall <= 0 || opt.scale <= 0 || opt.scale > 100) {
        fprintf(stderr, "test_xthread: option out of range\n");
        return -1;
    }
    return 0;
}

/* Run the configured pattern opt.runs times; exact totals at the end. */
static void run_pattern(const char *label) {
    pool_stats_t before, after;
    CHECK(pool_stats(&before) == 0);
    long a0 = atomic_load(&n_alloc), f0 = atomic_load(&n_free_own) + atomic_load(&n_free_handed);
    double t0 = now_s();
    for (int run = 0; run < opt.runs; run++) run_once();
    CHECK(pool_check() >= 0);
    CHECK(pool_stats(&after) == 0);
    long allocs = atomic_load(&n_alloc) - a0;
    long frees = atomic_load(&n_free_own) + atomic_load(&n_free_handed) - f0;
    CHECK_EQ(frees, allocs);
    CHECK_EQ((long long)(after.allocs - before.allocs), allocs);
    CHECK_EQ((long long)(after.frees - before.frees), allocs);
    for (int c = 0; c < POOL_NCLASSES; c++) CHECK_EQ(after.classes[c].live_blocks, before.classes[c].live_blocks);
    CHECK_EQ(after.large_blocks, before.large_blocks);
    CHECK_EQ(after.live_bytes, before.live_bytes);
    printf("test_xthread: %s: %d threads, %d run(s), %ld blocks, %.1f s: ok\n", label, opt.threads, opt.runs,
           allocs, now_s() - t0);
    fflush(stdout);
}

int main(int argc, char **argv) {
    for (int i = 0; i < MAX_THREADS; i++) pthread_mutex_init(&queues[i].lock, NULL);
    pthread_t wd;
    if (parse(argc, argv)) return 2;
    CHECK(pthread_create(&wd, NULL, watchdog_main, NULL) == 0);
    if (opt.custom) {
        run_pattern(opt.mixed ? "mixed" : "pair");
    } else {
        /* The bounded suite of the normal test run. */
        static const struct { int threads, loops, set, turnover, mixed, runs, trim; } suite[] = {
            {2, 500, 1000, 0, 0, 30, 0},  /* the issue-13 two-thread pattern: hung 3 runs in 4 before the fix */
            {2, 200, 500, 25, 1, 2, 1},
            {4, 120, 400, 20, 1, 1, 1},
            {8, 60, 300, 15, 1, 1, 1},
            {8, 100, 200, 0, 0, 1, 0},
        };
        if (!opt.check_every) opt.check_every = 16;
        int trim_ms = opt.trim_ms ? opt.trim_ms : 5;
        for (size_t i = 0; i < sizeof suite / sizeof suite[0]; i++) {
            opt.threads = suite[i].threads; opt.loops = suite[i].loops; opt.set = suite[i].set;
            opt.turnover = suite[i].turnover; opt.mixed = suite[i].mixed;
            opt.trim_ms = suite[i].trim ? trim_ms : 0;
            opt.runs = (int)(suite[i].runs * opt.scale + 0.5);
            if (opt.runs < 1) opt.runs = 1;
            run_pattern(opt.mixed ? "mixed" : "pair");
        }
    }
    atomic_store(&watchdog_stop, 1);
    pthread_join(wd, NULL);
    printf("test_xthread: ok\n");
    return 0;
}
